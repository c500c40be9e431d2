import { ApplicationFailure, Context } from '@temporalio/activity';
import { ProviderError, type AgentAnswer, type AgentRequest, type LlmProvider, type Usage } from '../agents/provider';
import { failureType, type BreakerSnapshot, type LlmFailureDetails } from '../common/failures';
import type { LlmMode, LlmSettings } from '../common/types';

// The LLM call as an activity: one attempt per activity attempt. Provider errors become failures with
// a named type (LlmRateLimited, LlmAuth, ...) whose retryability Temporal's retry policy obeys, and a
// Retry-After becomes the next retry's delay.

export interface AgentCall {
  request: AgentRequest;
  llm: LlmSettings;
}

export interface AgentCallResult {
  answer: AgentAnswer;
  usage: Usage;
  model: string;
  simulatedLatencyMs: number;
  /** The shared breaker after this call, when the provider has one. */
  breaker?: BreakerSnapshot;
}

/** The breaker's state for the status query; a Redis hiccup here must not fail the call. */
const breakerOf = (provider: LlmProvider): Promise<BreakerSnapshot | undefined> =>
  provider.breakerState?.().catch(() => undefined) ?? Promise.resolve(undefined);

/** How often a call in flight reports that it is alive; the workflow's heartbeat timeout is a few times this. */
const HEARTBEAT_EVERY_MS = 2_000;

export function createLlmActivities(providers: Partial<Record<LlmMode, LlmProvider>>) {
  return {
    async callAgent(call: AgentCall): Promise<AgentCallResult> {
      const ctx = Context.current();
      const provider = providers[call.llm.mode];
      if (!provider) {
        throw ApplicationFailure.nonRetryable(
          `LLM mode "${call.llm.mode}" is not configured on this worker (set OPENROUTER_API_KEY or VAULT_ADDR/VAULT_TOKEN)`,
          'LlmNotConfigured',
        );
      }
      // Heartbeats while the call is in flight: a worker killed mid-call is noticed within the
      // heartbeat timeout instead of the start-to-close timeout, and cancellation reaches the call.
      const alive = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      try {
        const result = await provider.complete(call.request, call.llm, {
          attempt: call.request.callAttempt ?? ctx.info.attempt,
          signal: ctx.cancellationSignal,
          heartbeat: () => ctx.heartbeat(),
        });
        // A success closes the shared breaker (lib/breaker.ts): no need to read it back.
        const breaker: BreakerSnapshot | undefined = provider.breakerState ? { state: 'closed', failures: 0, openedUntil: null } : undefined;
        return { ...result, ...(breaker ? { breaker } : {}) };
      } catch (err) {
        if (err instanceof ProviderError) {
          const breaker = await breakerOf(provider);
          const details: LlmFailureDetails = {
            kind: err.kind,
            status: err.status ?? null,
            retryable: err.retryable,
            retryAfterMs: err.retryAfterMs ?? null,
            ...(breaker ? { breaker } : {}),
          };
          throw ApplicationFailure.create({
            message: err.message,
            type: failureType(err.kind),
            nonRetryable: !err.retryable,
            nextRetryDelay: err.retryAfterMs,
            details: [details],
          });
        }
        throw err;
      } finally {
        clearInterval(alive);
      }
    },
  };
}
