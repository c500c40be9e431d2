// The error budget of one agent (the original design's Level 1 recovery): every failed LLM attempt
// counts toward the total; the same error class twice in a row exhausts the repeat budget; output that
// breaks the protocol after one repair attempt is a procedure violation. On reaching any limit the agent is
// revoked. Pure: the agent workflow keeps the state, so replay recomputes it and never counts twice.

export interface BudgetLimits {
  total: number;
  same: number;
  violations: number;
}

export interface BudgetState {
  /** Failed attempts so far (violations included). */
  total: number;
  /** The class of the last failure and how many times in a row it happened. */
  lastClass: string | null;
  streak: number;
  violations: number;
}

export type Exhausted = 'total' | 'same' | 'violations' | 'fatal';

export interface BudgetVerdict {
  state: BudgetState;
  /** Set when the agent must be revoked, with a sentence saying why. */
  exhausted?: { budget: Exhausted; reason: string };
}

export const emptyBudget = (): BudgetState => ({ total: 0, lastClass: null, streak: 0, violations: 0 });

/** A failed attempt of class `errorClass` (e.g. LlmServer); `fatal` when no retry can help (LlmAuth). */
export function recordFailure(state: BudgetState, limits: BudgetLimits, errorClass: string, opts: { fatal?: boolean } = {}): BudgetVerdict {
  const streak = state.lastClass === errorClass ? state.streak + 1 : 1;
  const next: BudgetState = { ...state, total: state.total + 1, lastClass: errorClass, streak };
  if (opts.fatal) return { state: next, exhausted: { budget: 'fatal', reason: `${errorClass} cannot be fixed by retrying` } };
  if (streak >= limits.same)
    return { state: next, exhausted: { budget: 'same', reason: `${errorClass} ${streak} times in a row (repeat budget ${limits.same})` } };
  if (next.total >= limits.total)
    return { state: next, exhausted: { budget: 'total', reason: `${next.total} failed attempts (total budget ${limits.total})` } };
  return { state: next };
}

/** Output that broke the protocol even after its repair attempt. */
export function recordViolation(state: BudgetState, limits: BudgetLimits, what: string): BudgetVerdict {
  const next: BudgetState = { ...state, total: state.total + 1, violations: state.violations + 1, lastClass: 'ProcedureViolation', streak: 0 };
  if (next.violations >= limits.violations) {
    return { state: next, exhausted: { budget: 'violations', reason: `procedure violation: ${what} (violation budget ${limits.violations})` } };
  }
  if (next.total >= limits.total)
    return { state: next, exhausted: { budget: 'total', reason: `${next.total} failed attempts (total budget ${limits.total})` } };
  return { state: next };
}

/** A successful call breaks a streak of equal failures. */
export const recordSuccess = (state: BudgetState): BudgetState => ({ ...state, lastClass: null, streak: 0 });

/** The per-agent token budget: checked after each call, so an agent stops within one call of it. */
export function checkTokens(used: number, budget: number): BudgetVerdict['exhausted'] {
  return used >= budget ? { budget: 'total', reason: `token budget spent: ${used} of ${budget} tokens` } : undefined;
}

/** Why an agent was revoked, as a closed set (a metrics label): which budget it spent. */
export const REVOCATION_CAUSES = ['tokens', 'total', 'same', 'violations', 'fatal'] as const;
export type RevocationCause = (typeof REVOCATION_CAUSES)[number];

/** The budget behind a revocation's sentence (the reasons this file writes); undefined for any other text. */
export function revocationCause(reason: string): RevocationCause | undefined {
  if (/^token budget spent/.test(reason)) return 'tokens';
  if (/^procedure violation:/.test(reason)) return 'violations';
  if (/^\d+ failed attempts/.test(reason)) return 'total';
  if (/^\S+ cannot be fixed by retrying/.test(reason)) return 'fatal';
  if (/^\S+ \d+ times in a row/.test(reason)) return 'same';
  return undefined;
}

/** The delay before retrying a failed attempt: the provider's Retry-After when it sent one, else exponential. */
export function backoffMs(attempt: number, retryAfterMs?: number): number {
  if (retryAfterMs !== undefined && retryAfterMs >= 0) return Math.min(retryAfterMs, 5 * 60_000);
  return Math.min(500 * 2 ** Math.max(0, attempt - 1), 30_000);
}
