import {
  ActivityFailure,
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import type { LlmActivities } from '../activities';
import type { AgentCallResult } from '../activities/llm';
import type { AgentRequest, AgentTask } from '../agents/provider';
import { agentTurnResultSignal, agentTurnSignal, type AgentTurn, type AgentTurnResult } from '../common/messages';
import type { AgentPhase, GammaReason, LlmSettings, Role } from '../common/types';

// agentWorkflow: one agent (ALPHA, BETA or GAMMA) as a child of its pipeline. In RUN it makes its one
// analysis call and returns; in ORCHESTRATE it takes turns the pipeline signals to it and signals
// each turn's outcome back, so every message between agents is in Temporal's history.

export interface AgentWorkflowInput {
  pipelineId: string;
  role: Role;
  phase: AgentPhase;
  objective: string;
  llm: LlmSettings;
  /** Attempts per LLM call (the agent's total error budget bounds it). */
  maxAttempts: number;
  gammaReason?: GammaReason;
}

export interface AgentWorkflowResult {
  role: Role;
  phase: AgentPhase;
  summary?: string;
  tokens: number;
  errors: number;
  turns: number;
  simulatedLatencyMs: number;
}

// Errors a retry cannot fix: Temporal stops at once for these.
const NON_RETRYABLE = ['LlmAuth', 'LlmForbidden', 'LlmNotFound', 'LlmBadRequest', 'LlmUnprocessable', 'LlmNotConfigured', 'LlmInvalidOutput'];

const { callAgent } = proxyActivities<LlmActivities>({
  startToCloseTimeout: '2 minutes',
  scheduleToCloseTimeout: '15 minutes',
  retry: { initialInterval: '500ms', backoffCoefficient: 2, maximumInterval: '30s', nonRetryableErrorTypes: NON_RETRYABLE },
});

const TASK_BY_ACTION: Record<AgentTurn['action'], AgentTask | null> = {
  propose: 'propose',
  evaluate: 'evaluate',
  mediate: 'mediate',
  finish: null,
};

export async function agentWorkflow(input: AgentWorkflowInput): Promise<AgentWorkflowResult> {
  const ROLE = input.role.toUpperCase();
  const result: AgentWorkflowResult = { role: input.role, phase: input.phase, tokens: 0, errors: 0, turns: 0, simulatedLatencyMs: 0 };

  const call = async (task: AgentTask, round: number, extra: Partial<AgentRequest> = {}): Promise<AgentCallResult> => {
    const request: AgentRequest = { pipelineId: input.pipelineId, role: input.role, task, objective: input.objective, round, ...extra };
    try {
      const r = await callAgent.executeWithOptions(
        { summary: `${ROLE} · ${task}${round ? ` · round ${round}` : ''}`, retry: { maximumAttempts: input.maxAttempts, nonRetryableErrorTypes: NON_RETRYABLE } },
        [{ request, llm: input.llm }],
      );
      result.tokens += r.usage.totalTokens;
      result.errors += r.attempts - 1;
      result.turns += 1;
      result.simulatedLatencyMs += r.simulatedLatencyMs;
      return r;
    } catch (err) {
      // A cancelled call means the agent is being stopped: let the cancellation through as it is.
      if (isCancellation(err)) throw err;
      if (err instanceof ActivityFailure) {
        result.errors += 1;
        const cause = err.cause instanceof ApplicationFailure ? err.cause : undefined;
        throw ApplicationFailure.nonRetryable(`${ROLE}'s ${task} call failed: ${cause?.message ?? err.message}`, cause?.type ?? 'AgentCallFailed');
      }
      throw err;
    }
  };

  if (input.phase === 'run') {
    const r = await call(input.role === 'alpha' ? 'research' : 'synthesis', 0);
    result.summary = r.answer.summary ?? '';
    return result;
  }

  const parentId = workflowInfo().parent?.workflowId;
  if (!parentId) throw ApplicationFailure.nonRetryable('an orchestration agent must run as a child of its pipeline', 'NoParent');
  const parent = getExternalWorkflowHandle(parentId);
  const inbox: AgentTurn[] = [];
  setHandler(agentTurnSignal, (turn) => void inbox.push(turn));

  for (;;) {
    await condition(() => inbox.length > 0);
    const turn = inbox.shift()!;
    const task = TASK_BY_ACTION[turn.action];
    if (!task) break;
    const reply: AgentTurnResult = { turnId: turn.turnId, from: input.role, round: turn.round, tokens: 0, errors: 0 };
    const before = { tokens: result.tokens, errors: result.errors };
    try {
      const r = await call(task, turn.round, {
        proposals: turn.proposals,
        proposalId: turn.proposalId,
        feedback: turn.feedback,
        gammaReason: turn.gammaReason ?? input.gammaReason,
      });
      const a = r.answer;
      if (a.proposal) reply.proposal = a.proposal;
      if (a.vote) reply.vote = a.vote;
      if (a.message) reply.message = { to: task === 'mediate' ? 'all' : 'alpha', content: a.message };
    } catch (err) {
      if (!(err instanceof ApplicationFailure)) throw err;
      reply.failure = `${err.type ?? 'Error'}: ${err.message}`;
      log.warn('agent turn failed', { pipelineId: input.pipelineId, role: input.role, failure: reply.failure });
    }
    reply.tokens = result.tokens - before.tokens;
    reply.errors = result.errors - before.errors;
    await parent.signal(agentTurnResultSignal, reply);
  }
  return result;
}
