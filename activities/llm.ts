import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import { randomUUID } from 'node:crypto';
import type { Exchange } from '../agents/exchange';
import { modelFor } from '../agents/openaiProvider';
import { ProviderError, type AgentAnswer, type AgentRequest, type LlmProvider, type Usage } from '../agents/provider';
import { failureType, type BreakerSnapshot, type LlmFailureDetails } from '../common/failures';
import type { LlmMode, LlmSettings } from '../common/types';
import { priceCall, type PriceTable } from '../governance/costBudget';
import type { WorkerMetrics } from '../lib/metrics/series';
import { PartialPublisher } from '../lib/partials';
import { stashTranscript } from '../lib/transcripts';

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
  /** The key of this call's transcript in the ledger (the history holds only this reference). */
  transcript?: string;
}

export interface LlmActivityDeps {
  /** Where the call's transcript waits for the ledger writer (lib/transcripts.ts), and where its answer streams live (lib/partials.ts). */
  redis?: Redis;
  /** The pipelines' task queue (not `<queue>-llm`), whose ledger writer collects the transcripts. */
  taskQueue?: string;
  /** Prices for providers that report no cost (LLM_PRICES), so the cost budget holds with them too. */
  prices?: PriceTable;
  /** The worker's Prometheus series: every call (each activity attempt) is counted once, with its latency, tokens and cost. */
  metrics?: WorkerMetrics;
}

function sumUsage(exchanges: readonly Exchange[]): Usage | null {
  const used = exchanges.flatMap((e) => (e.usage ? [e.usage] : []));
  if (!used.length) return null;
  const usage: Usage = { promptTokens: 0, completionTokens: 0, totalTokens: 0 };
  for (const u of used) {
    usage.promptTokens += u.promptTokens;
    usage.completionTokens += u.completionTokens;
    usage.totalTokens += u.totalTokens;
    if (u.costUsd !== undefined) usage.costUsd = (usage.costUsd ?? 0) + u.costUsd;
  }
  return usage;
}

/** The breaker's state for the status query; a Redis hiccup here must not fail the call. */
const breakerOf = (provider: LlmProvider): Promise<BreakerSnapshot | undefined> =>
  provider.breakerState?.().catch(() => undefined) ?? Promise.resolve(undefined);

/** How often a call in flight reports that it is alive; the workflow's heartbeat timeout is a few times this. */
const HEARTBEAT_EVERY_MS = 2_000;

export function createLlmActivities(providers: Partial<Record<LlmMode, LlmProvider>>, deps: LlmActivityDeps = {}) {
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
      // A local activity (LLM_CALLS=worker) has no heartbeat: the workflow task's timeout covers it.
      const alive = ctx.info.isLocal ? undefined : setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
      // The call's HTTP exchanges (a provider reports them; the simulator has none), for its transcript.
      const exchanges: Exchange[] = [];
      const startedAt = new Date().toISOString();
      const { info } = ctx;
      const req = call.request;
      // Always a workflow's activity here; the SDK types it optional for standalone activities.
      const wf = info.workflowExecution ?? { workflowId: 'standalone', runId: info.activityId };
      // Unique per attempt: a retried activity is another call to the provider, with its own transcript.
      // A local activity's id and attempt start again when its workflow task is retried after a lost
      // worker (nothing was recorded yet), so its key also takes this execution's own id.
      const key = `${wf.runId}:${info.activityId}:${info.attempt}${info.isLocal ? `:${randomUUID().slice(0, 8)}` : ''}`;
      const transcribe = async (outcome: string, error: string | null): Promise<string | undefined> => {
        if (!deps.redis || !deps.taskQueue || exchanges.length === 0) return undefined;
        await stashTranscript(deps.redis, deps.taskQueue, {
          key,
          pipelineId: req.pipelineId,
          agentId: wf.workflowId,
          agentRunId: wf.runId,
          role: req.role,
          task: req.task,
          round: req.round,
          try: req.callAttempt ?? 1,
          attempt: info.attempt,
          repair: req.repair ?? null,
          model: exchanges.at(-1)?.model ?? String(exchanges.at(-1)?.request.model ?? call.llm.model),
          usage: sumUsage(exchanges),
          outcome,
          error,
          exchanges,
          startedAt,
          endedAt: new Date().toISOString(),
        });
        return key;
      };
      // The answer as it streams in, for watchers (not recorded: the transcript keeps the whole answer).
      const live = deps.redis
        ? new PartialPublisher(deps.redis, {
            pipeline_id: req.pipelineId,
            agent_id: wf.workflowId,
            role: req.role,
            task: req.task,
            round: req.round,
            call: key,
          })
        : undefined;
      let outcome = 'error';
      const m = deps.metrics;
      // Labels from closed sets (lib/metrics/series.ts): the model the call asked for, bounded by the allow-list.
      const labels = m && { role: m.labels.role(req.role), model: m.modelLabel(modelFor(req.role, call.llm), call.llm.mode) };
      const callStarted = performance.now();
      let callSeconds: number | undefined;
      const callEnded = () => (callSeconds ??= (performance.now() - callStarted) / 1000);
      let usage: Usage | undefined;
      try {
        const result = await provider.complete(req, call.llm, {
          attempt: req.callAttempt ?? info.attempt,
          signal: ctx.cancellationSignal,
          // A local activity has no heartbeat (the SDK would only log that the server does not know it).
          heartbeat: () => (info.isLocal ? undefined : ctx.heartbeat()),
          onExchange: (e) => {
            exchanges.push(e);
            live?.exchangeEnded();
          },
          ...(live ? { onPartial: (text: string) => live.push(text) } : {}),
        });
        callEnded();
        outcome = 'ok';
        // Provider calls only: the simulator's are free, whatever LLM_PRICES says of the model it stands in for.
        if (result.usage.costUsd === undefined && deps.prices && call.llm.mode !== 'local') {
          const costUsd = priceCall(result.usage, [result.model, modelFor(req.role, call.llm)], deps.prices);
          if (costUsd !== undefined) result.usage = { ...result.usage, costUsd };
        }
        usage = result.usage;
        // The answer is paid for: a transcript Redis did not take is logged, not a reason to call the
        // provider again (which a failed attempt would do).
        const transcript = await transcribe('ok', null).catch((e: unknown) => void ctx.log.warn('transcript not stashed', { key, error: String(e) }));
        // Read back, not assumed closed: a call let through before the breaker opened leaves it open
        // when it succeeds (lib/breaker.ts), and the status must not say closed during the cooldown.
        const breaker = await breakerOf(provider);
        return { ...result, ...(breaker ? { breaker } : {}), ...(transcript ? { transcript } : {}) };
      } catch (err) {
        callEnded();
        if (err instanceof ProviderError) outcome = err.kind;
        else if (ctx.cancellationSignal.aborted) outcome = 'cancelled';
        // A failed call is transcribed too; a Redis failure here must not hide the provider's error.
        const transcript = await transcribe(err instanceof ProviderError ? err.kind : 'error', err instanceof Error ? err.message : String(err)).catch(
          (e: unknown) => void ctx.log.warn('transcript not stashed', { key, error: String(e) }),
        );
        if (err instanceof ProviderError) {
          const breaker = await breakerOf(provider);
          const details: LlmFailureDetails = {
            kind: err.kind,
            status: err.status ?? null,
            retryable: err.retryable,
            retryAfterMs: err.retryAfterMs ?? null,
            ...(breaker ? { breaker } : {}),
            ...(transcript ? { transcript } : {}),
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
        live?.end(outcome);
        if (m && labels) {
          m.llmDuration.observe(labels, callEnded());
          m.llmCalls.inc({ ...labels, task: m.labels.task(req.task), outcome: m.labels.outcome(outcome) });
          if (usage) {
            m.llmTokens.inc({ ...labels, kind: 'prompt' }, usage.promptTokens);
            m.llmTokens.inc({ ...labels, kind: 'completion' }, usage.completionTokens);
            if (usage.costUsd !== undefined) m.llmCost.inc(labels, usage.costUsd);
          }
        }
      }
    },
  };
}
