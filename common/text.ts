// Text shortened for one line of display or prompt. Pure and free of Node builtins: workflow code
// imports common/.

/** One line, at most `max` characters: newlines in model output must not forge prompt structure. */
export function clip(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}

/** How much of the objective a summary shows (Web UI summaries, the simulator's texts). */
export const OBJECTIVE_SUMMARY_CHARS = 80;

/** The objective as summaries show it: one line, at most OBJECTIVE_SUMMARY_CHARS characters. */
export const clipObjective = (objective: string): string => clip(objective, OBJECTIVE_SUMMARY_CHARS);
