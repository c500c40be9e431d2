// Failure types that cross from activities into workflows, named once for both sides.

/** Provider error classes (agents/provider.ts ProviderErrorKind), as failure types: rate_limited → LlmRateLimited. */
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
}

/** lib/breaker.ts's state, as activities report it (epoch ms from Redis's clock). */
export interface BreakerSnapshot {
  state: 'closed' | 'open' | 'half_open';
  failures: number;
  openedUntil: number | null;
}
