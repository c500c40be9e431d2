/** Workflow time (the SDK makes Date.now() deterministic), as ISO text. */
export const nowIso = (): string => new Date(Date.now()).toISOString();
