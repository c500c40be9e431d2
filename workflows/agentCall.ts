import {
  ActivityFailure,
  ApplicationFailure,
  isCancellation,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  TimeoutFailure,
  workflowInfo,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import type { LlmActivities } from '../activities';
import type { AgentCallResult } from '../activities/llm';
import type { AgentAnswer, AgentRequest, AgentTask } from '../agents/provider';
import { llmTaskQueue } from '../common/ids';
import { INVALID_OUTPUT, LLM_FAILURE_TYPES, type BreakerSnapshot, type LlmFailureDetails } from '../common/failures';
import type { BreakerView, CallRecord, Handoff, LlmSettings, Role } from '../common/types';
import {
  backoffMs,
  checkTokens,
  emptyBudget,
  recordFailure,
  recordSuccess,
  recordViolation,
  type BudgetLimits,
  type BudgetVerdict,
} from '../governance/errorBudget';
import { procedureViolation } from '../governance/procedure';
import { nowIso } from './time';

// One agent's LLM calls under its error and token budgets (governance/errorBudget.ts wired to
// Temporal). Each try is an activity; a provider failure comes straight back here (its type is
// non-retryable for Temporal), is counted, and either waits out a backoff timer (Retry-After when the
// provider sent one) or revokes the agent. Temporal's retry policy covers what is not the agent's
// fault: a worker lost mid-call is retried (after the heartbeat timeout; for a call in the agent's own
// worker, the workflow task's) without touching the budget.
// The counts live in workflow state, so a replay recomputes them and never counts twice.

const RETRY: ActivityOptions['retry'] = { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '10s', nonRetryableErrorTypes: LLM_FAILURE_TYPES };

const CALL_OPTIONS: ActivityOptions = {
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '10s',
  scheduleToCloseTimeout: '15 minutes',
  retry: RETRY,
};

/**
 * A call in the agent's own worker (LLM_CALLS=worker): no heartbeat (a local activity has none; a
 * worker lost mid-call is noticed by the workflow task's timeout instead, and the task is retried
 * elsewhere). The workflow task stays open while the call runs, so a stop reaches it when the SDK
 * renews that task (at 80 % of the task timeout: every 8 s of a long call) rather than at the next
 * heartbeat. Provider failures come back at once (their types are not retried); any other failure
 * is tried 5 times within the open task, then counted in the agent's error budget like a provider's,
 * rather than holding the task (and renewing it, three events each time) for 15 minutes.
 */
const LOCAL_CALL_OPTIONS: LocalActivityOptions = {
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '15 minutes',
  retry: { ...RETRY, maximumAttempts: 5 },
};

/**
 * Where a call runs (LlmSettings.calls). On a queue: a provider's calls go to the LLM queue,
 * rate-limited server-side across every worker; the local simulator calls no provider, so its calls
 * stay on the workflow's own queue, where the server can hand them to the worker eagerly (no extra
 * poll round trip). In the worker: a local activity, whose result comes back in the same workflow task
 * that started it (one task, one activity dispatch and five history events fewer a call; README,
 * "Per-call cost").
 */
function callAgentFor(llm: LlmSettings) {
  if (llm.calls === 'worker') return proxyLocalActivities<LlmActivities>(LOCAL_CALL_OPTIONS).callAgent;
  const taskQueue = llm.mode === 'local' ? undefined : llmTaskQueue(workflowInfo().taskQueue);
  return proxyActivities<LlmActivities>({ ...CALL_OPTIONS, ...(taskQueue ? { taskQueue } : {}) }).callAgent;
}

export interface CallBudget {
  errors: BudgetLimits;
  tokens: number;
}

export type CallOutcome = { ok: true; answer: AgentAnswer } | { ok: false; revoked: Handoff };

interface FailureInfo {
  type: string;
  message: string;
  fatal: boolean;
  retryAfterMs?: number;
  breaker?: BreakerSnapshot;
}

/**
 * A failed call's cause. An activity's failure comes wrapped in an ActivityFailure; a local activity's
 * (LLM_CALLS=worker) failure comes as the failure itself (SDK 1.23; its timeouts and cancellation come
 * wrapped).
 */
function callFailure(err: unknown): { cause: Error | undefined; message: string } | undefined {
  if (err instanceof ActivityFailure) return { cause: err.cause, message: err.message };
  if (err instanceof ApplicationFailure) return { cause: err, message: err.message };
  return undefined;
}

function failureInfo({ cause, message }: { cause: Error | undefined; message: string }): FailureInfo {
  if (cause instanceof ApplicationFailure) {
    const d = cause.details?.[0] as Partial<LlmFailureDetails> | undefined;
    const retryable = d?.retryable ?? !cause.nonRetryable;
    return {
      type: cause.type ?? 'ApplicationFailure',
      message: cause.message,
      fatal: !retryable && cause.type !== INVALID_OUTPUT,
      retryAfterMs: d?.retryAfterMs ?? undefined,
      breaker: d?.breaker,
    };
  }
  if (cause instanceof TimeoutFailure) return { type: 'ActivityTimeout', message: `the call timed out (${cause.timeoutType})`, fatal: false };
  return { type: cause?.name ?? 'ActivityFailure', message: cause?.message ?? message, fatal: false };
}

export class BudgetedCaller {
  private readonly callAgent: ReturnType<typeof callAgentFor>;
  private budget = emptyBudget();
  tokens = 0;
  turns = 0;
  simulatedLatencyMs = 0;
  /** The shared breaker as this agent's last call saw it (openrouter mode). */
  breaker: BreakerView | null = null;
  /** Successful calls' usage not yet handed to the pipeline (see takeCalls). */
  private calls: CallRecord[] = [];
  private callCount = 0;
  /** Called after each failed try (the budget or the breaker changed), e.g. to tell the pipeline. */
  onFailure?: () => void;
  /** Short lines of what this agent did, for its handoff. */
  readonly did: string[] = [];

  constructor(
    private readonly who: { pipelineId: string; agentId: string; role: Role; objective: string },
    private readonly llm: LlmSettings,
    private readonly limits: CallBudget,
  ) {
    this.callAgent = callAgentFor(llm);
  }

  get errors(): number {
    return this.budget.total;
  }

  get violations(): number {
    return this.budget.violations;
  }

  /** Calls the LLM for one task until it gives a valid answer or the agent's budget is spent. */
  async call(task: AgentTask, round: number, extra: Partial<AgentRequest> = {}, proposalIds: readonly string[] = []): Promise<CallOutcome> {
    const ROLE = this.who.role.toUpperCase();
    const what = `${task}${round ? ` for round ${round}` : ''}${extra.proposalId ? ` on ${extra.proposalId}` : ''}`;
    let repair: string | undefined;
    for (let attempt = 1; ; attempt++) {
      const request: AgentRequest = {
        pipelineId: this.who.pipelineId,
        role: this.who.role,
        task,
        objective: this.who.objective,
        round,
        ...extra,
        callAttempt: attempt,
        ...(repair ? { repair } : {}),
      };
      let r: AgentCallResult;
      try {
        r = await this.callAgent.executeWithOptions(
          { summary: `${ROLE} · ${task}${round ? ` · round ${round}` : ''}${attempt > 1 ? ` · try ${attempt}` : ''}` },
          [{ request, llm: this.llm }],
        );
      } catch (err) {
        const failed = isCancellation(err) ? undefined : callFailure(err);
        if (!failed) throw err;
        const f = failureInfo(failed);
        this.observe(f.breaker);
        const verdict =
          f.type === INVALID_OUTPUT
            ? recordViolation(this.budget, this.limits.errors, f.message)
            : recordFailure(this.budget, this.limits.errors, f.type, { fatal: f.fatal });
        const revoked = this.apply(verdict, `${f.type}: ${f.message}`, what);
        if (revoked) return revoked;
        this.onFailure?.();
        const wait = backoffMs(attempt, f.retryAfterMs);
        await sleep(wait, { summary: `${ROLE} · backoff after ${f.type} · ${wait}ms` });
        continue;
      }
      this.observe(r.breaker);
      this.tokens += r.usage.totalTokens;
      this.calls.push({
        // The run id keeps keys unique when a rerun starts this agent again under the same workflow id.
        key: `${workflowInfo().runId}:${++this.callCount}`,
        agentId: this.who.agentId,
        role: this.who.role,
        task,
        round,
        attempt,
        model: r.model,
        promptTokens: r.usage.promptTokens,
        completionTokens: r.usage.completionTokens,
        totalTokens: r.usage.totalTokens,
        ...(r.usage.costUsd !== undefined ? { costUsd: r.usage.costUsd } : {}),
        at: nowIso(),
      });
      this.simulatedLatencyMs += r.simulatedLatencyMs;
      this.budget = recordSuccess(this.budget);
      const overTokens = checkTokens(this.tokens, this.limits.tokens);
      if (overTokens) return this.revoke(overTokens.reason, what);
      const violation = procedureViolation(this.who.role, task, r.answer, { proposalIds });
      if (violation) {
        // One repair attempt is free; breaking the protocol again is a violation.
        if (repair === undefined) {
          repair = violation;
          continue;
        }
        const revoked = this.apply(recordViolation(this.budget, this.limits.errors, violation), `procedure violation: ${violation}`, what);
        if (revoked) return revoked;
        repair = violation;
        continue;
      }
      this.turns += 1;
      this.did.push(
        `${task}${round ? ` (round ${round})` : ''}${r.answer.proposal ? `: "${r.answer.proposal.title.slice(0, 80)}"` : ''}${r.answer.vote ? `: ${r.answer.vote.approve ? 'for' : 'against'} ${r.answer.vote.proposalId}` : ''}`,
      );
      return { ok: true, answer: r.answer };
    }
  }

  /** The usage of the calls made since the last time, for the pipeline to record. */
  takeCalls(): CallRecord[] {
    const calls = this.calls;
    this.calls = [];
    return calls;
  }

  private observe(b: BreakerSnapshot | undefined): void {
    if (b)
      this.breaker = {
        state: b.state,
        failures: b.failures,
        openedUntil: b.openedUntil === null ? null : new Date(b.openedUntil).toISOString(),
        observedAt: nowIso(),
      };
  }

  private apply(verdict: BudgetVerdict, last: string, what: string): CallOutcome | undefined {
    this.budget = verdict.state;
    if (!verdict.exhausted) return undefined;
    return this.revoke(`${verdict.exhausted.reason}; last error ${last}`, what);
  }

  private revoke(reason: string, what: string): CallOutcome {
    return {
      ok: false,
      revoked: {
        agentId: this.who.agentId,
        role: this.who.role,
        reason,
        did: this.did.slice(-10),
        left: `${what} was not finished`,
        tokens: this.tokens,
        errors: this.budget.total,
        at: nowIso(),
      },
    };
  }
}
