import { ApplicationFailure, getExternalWorkflowHandle, isCancellation, patched, workflowInfo } from '@temporalio/workflow';
import type { AgentTask } from '../agents/provider';
import type { AgentTurn, AgentTurnResult } from '../common/messages';
import type { AgentPhase, BreakerView, CallRecord, GammaReason, Handoff, LlmSettings, Role } from '../common/types';
import { BudgetedCaller, type CallBudget } from './agentCall';
import { ParentLink } from './agentChannel';
import { handOver, reviewTurn } from './directReview';
import { PATCHES } from './patches';

// agentWorkflow: one agent (ALPHA, BETA or GAMMA) as a child of its pipeline. In RUN it makes its one
// analysis call and returns; in ORCHESTRATE it takes the turns the pipeline sends it and answers each
// through the agent channel (workflows/agentChannel.ts), so every message between agents is in
// Temporal's history. An agent whose budget is spent ends with a handoff instead of an answer
// (revocation is an outcome, not a crash).

export interface AgentWorkflowInput {
  pipelineId: string;
  role: Role;
  phase: AgentPhase;
  objective: string;
  llm: LlmSettings;
  budget: CallBudget;
  gammaReason?: GammaReason;
  /** RUN's findings, for every orchestration prompt (bounded: common/limits.ts). */
  findings?: string;
  /** Sent back with every signal to the pipeline, which drops signals without its child's key. */
  key: string;
  /** An orchestration agent's first turn, given at its start rather than signalled (workflows/patches.ts). */
  firstTurn?: AgentTurn;
}

export interface AgentWorkflowResult {
  role: Role;
  phase: AgentPhase;
  summary?: string;
  tokens: number;
  errors: number;
  violations: number;
  turns: number;
  simulatedLatencyMs: number;
  revoked?: Handoff;
  breaker?: BreakerView;
  /** Usage of the calls not yet reported in a turn's reply (RUN's call; in ORCHESTRATE, none). */
  calls?: CallRecord[];
}

const TASK_BY_ACTION: Record<AgentTurn['action'], AgentTask | null> = {
  propose: 'propose',
  evaluate: 'evaluate',
  mediate: 'mediate',
  finish: null,
};

export async function agentWorkflow(input: AgentWorkflowInput): Promise<AgentWorkflowResult> {
  const agentId = workflowInfo().workflowId;
  const caller = new BudgetedCaller({ pipelineId: input.pipelineId, agentId, role: input.role, objective: input.objective }, input.llm, input.budget);
  const result = (extra: Partial<AgentWorkflowResult> = {}): AgentWorkflowResult => ({
    role: input.role,
    phase: input.phase,
    tokens: caller.tokens,
    errors: caller.errors,
    violations: caller.violations,
    turns: caller.turns,
    simulatedLatencyMs: caller.simulatedLatencyMs,
    ...(caller.breaker ? { breaker: caller.breaker } : {}),
    calls: caller.takeCalls(),
    ...extra,
  });

  const parentId = workflowInfo().parent?.workflowId;
  const parent = parentId ? new ParentLink(getExternalWorkflowHandle(parentId), input.key, input.firstTurn) : undefined;
  caller.onFailure = () =>
    parent?.progress({
      agentId,
      tokens: caller.tokens,
      errors: caller.errors,
      violations: caller.violations,
      ...(caller.breaker ? { breaker: caller.breaker } : {}),
    });

  if (input.phase === 'run') {
    const out = await caller.call(input.role === 'alpha' ? 'research' : 'synthesis', 0);
    return out.ok ? result({ summary: out.answer.summary ?? '' }) : result({ summary: `(revoked: ${out.revoked.reason})`, revoked: out.revoked });
  }

  if (!parent) throw ApplicationFailure.nonRetryable('an orchestration agent must run as a child of its pipeline', 'NoParent');
  for (;;) {
    let turn: AgentTurn;
    try {
      turn = await parent.nextTurn();
    } catch (err) {
      // Asked to end while waiting for a turn: the pipeline has ended and its close policy ends its
      // idle agents (PATCHES.agentsEndWithPipeline). Nothing was cut short, so this is a normal end.
      if (isCancellation(err) && patched(PATCHES.agentsEndWithPipeline)) return result();
      throw err;
    }
    const task = TASK_BY_ACTION[turn.action];
    if (!task) return result();
    const latencyBefore = caller.simulatedLatencyMs;
    const out = await caller.call(
      task,
      turn.round,
      {
        findings: input.findings,
        proposals: turn.proposals,
        proposal: turn.proposal,
        proposalId: turn.proposalId,
        objections: turn.objections,
        inbox: turn.inbox,
        gammaReason: turn.gammaReason ?? input.gammaReason,
        gammaDetail: turn.gammaDetail,
        subproblems: turn.subproblems,
        orchestration: turn.orchestration,
      },
      turn.proposals?.map((p) => p.id) ?? [],
    );
    const reply: Omit<AgentTurnResult, 'key'> = {
      turnId: turn.turnId,
      from: input.role,
      round: turn.round,
      tokens: caller.tokens,
      errors: caller.errors,
      violations: caller.violations,
      simulatedLatencyMs: caller.simulatedLatencyMs - latencyBefore,
    };
    if (caller.breaker) reply.breaker = caller.breaker;
    const calls = caller.takeCalls();
    if (calls.length) reply.calls = calls;
    if (out.ok) {
      const a = out.answer;
      if (a.proposal) reply.proposal = a.proposal;
      if (a.vote) reply.vote = a.vote;
      if (a.subproblems?.length) reply.subproblems = a.subproblems;
      if (a.messages?.length) reply.messages = a.messages;
      // Its reviewer starts on the proposal now; the pipeline takes this reply meanwhile.
      const review = reviewTurn(turn, input.role, reply);
      if (review && turn.review && (await handOver(input.pipelineId, turn.review.to, review))) reply.handedTo = turn.review.to;
    } else {
      reply.revoked = out.revoked;
    }
    await parent.reply(reply);
    if (!out.ok) return result({ revoked: out.revoked });
  }
}
