import { ApplicationFailure, Context } from '@temporalio/activity';
import { ProviderError, type AgentAnswer, type AgentRequest, type LlmProvider, type Usage } from '../agents/provider';
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
  /** Attempts this call took; attempts - 1 failed and count toward the agent's error budget. */
  attempts: number;
  simulatedLatencyMs: number;
}

export const failureType = (kind: string): string =>
  `Llm${kind
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join('')}`;

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
      try {
        const result = await provider.complete(call.request, call.llm, {
          attempt: ctx.info.attempt,
          signal: ctx.cancellationSignal,
          heartbeat: () => ctx.heartbeat(),
        });
        return { ...result, attempts: ctx.info.attempt };
      } catch (err) {
        if (err instanceof ProviderError) {
          throw ApplicationFailure.create({
            message: err.message,
            type: failureType(err.kind),
            nonRetryable: !err.retryable,
            nextRetryDelay: err.retryAfterMs,
            details: [{ kind: err.kind, status: err.status ?? null }],
          });
        }
        throw err;
      }
    },
  };
}
