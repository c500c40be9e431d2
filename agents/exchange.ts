import { scrub } from './openaiErrors';
import type { Usage } from './provider';

// One HTTP exchange with a provider, as the transcript keeps it (lib/transcripts.ts): the request body
// as sent (messages included) and the answer's text as received. A provider reports each one to the
// call's context (CallContext.onExchange); the activity gathers them into the call's transcript.

export interface Exchange {
  /** The request body as sent: model, messages and the parameters that shape the answer. */
  request: Record<string, unknown>;
  /** The answer's text as received; null when none came (an HTTP error, a timeout). */
  answer: string | null;
  /** The model that answered, as the provider named it. */
  model?: string;
  usage?: Usage;
  finishReason?: string | null;
  /** Why the request failed, as the ProviderError says it (already scrubbed). */
  error?: string;
  /** Why the answer was not accepted (it broke its schema), when it was not. */
  rejected?: string;
  startedAt: string;
  ms: number;
}

/** Every string in `value` scrubbed of the secrets and of anything key-shaped (see openaiErrors.ts). */
export function scrubDeep<T>(value: T, secrets: readonly string[]): T {
  if (typeof value === 'string') return scrub(value, secrets) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => scrubDeep(v, secrets)) as T;
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, scrubDeep(v, secrets)])) as T;
  return value;
}
