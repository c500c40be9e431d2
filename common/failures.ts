// Failure types that cross from activities into workflows, named once for both sides.

/**
 * The provider error classes an agent's workflow sees and counts toward the agent's error budget,
 * each as a failure type (rate_limited → LlmRateLimited) that Temporal does not retry by itself.
 */
export const LLM_ERROR_KINDS = [
  'rate_limited',
  'server',
  'timeout',
  'network',
  'conflict',
  'auth',
  'forbidden',
  'not_found',
  'bad_request',
  'unprocessable',
  'invalid_output',
  'not_configured',
] as const;

/**
 * The shared circuit breaker (lib/breaker.ts) is open, so no request was sent. It does NOT count toward
 * an agent's error budget: it is left out of LLM_ERROR_KINDS, so its failure type (LlmCircuitOpen) is
 * retryable for Temporal, whose retry policy waits out the rest of the cooldown (the failure's
 * nextRetryDelay) and tries again without the workflow seeing the failure. Why: the breaker opens on
 * the endpoint's own failures, which the agents whose calls failed have already counted; counting the
 * fast failures as well would revoke every agent of every pipeline during one outage (two in a row
 * spend the repeat budget) for calls that never reached the provider. A breaker that stays open past
 * the call's schedule-to-close timeout reaches the workflow as one activity timeout, counted once.
 */
export const CIRCUIT_OPEN = 'circuit_open';

/** Every class a provider call can fail with (agents/provider.ts ProviderError.kind). */
export type LlmErrorKind = (typeof LLM_ERROR_KINDS)[number] | typeof CIRCUIT_OPEN;

export const failureType = (kind: string): string =>
  `Llm${kind
    .split('_')
    .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
    .join('')}`;

/**
 * Every provider failure goes back to the agent's workflow at once, so its error budget sees each
 * one (class by class) and decides: retry after a backoff timer, or revoke. Temporal's own retries
 * are left for infrastructure failures (a worker lost mid-call, a timeout), which are not the agent's.
 */
export const LLM_FAILURE_TYPES: string[] = LLM_ERROR_KINDS.map(failureType);

/** Output that still breaks its schema after the provider path's repair attempt: a procedure violation. */
export const INVALID_OUTPUT = failureType('invalid_output');

/** Details attached to every provider failure. */
export interface LlmFailureDetails {
  kind: string;
  status: number | null;
  retryable: boolean;
  retryAfterMs: number | null;
  /** The shared breaker right after this failure (openrouter mode), e.g. open when this one tripped it. */
  breaker?: BreakerSnapshot;
  /** The key of the failed call's transcript in the ledger, when it reached the provider. */
  transcript?: string;
}

/** lib/breaker.ts's state, as activities report it (epoch ms from Redis's clock). */
export interface BreakerSnapshot {
  state: 'closed' | 'open' | 'half_open';
  failures: number;
  openedUntil: number | null;
}
