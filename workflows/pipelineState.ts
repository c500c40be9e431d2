import { setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { LlmModeKey, PipelinePhaseKey, PipelineStatusKey } from '../common/searchAttributes';
import type { Handoff, OrchestrationView, PipelineSettings, Phase, PipelineStatusName, Report, Role, StatusView } from '../common/types';
import { AgentChannel } from './agentChannel';
import { Gamma } from './gamma';
import { Outbox } from './outbox';
import { nowIso } from './time';

// The pipeline's state, in one place the queries read: its phase and status (with the search
// attributes and Web UI details that show them), the report, the orchestration's record, and the
// owners of the rest, each the only writer of its part: the outbox (what goes to the ledger and
// Redis), the agent channel (the agents, their views, usage and the breaker) and GAMMA.

export type OrchestrationRecord = Omit<OrchestrationView, 'gamma' | 'mode' | 'model'>;

export class PipelineState {
  phase: Phase = 'SPAWN';
  status: PipelineStatusName = 'SPAWNING';
  startedAt = workflowInfo().startTime.toISOString();
  updatedAt = this.startedAt;
  report: Report | null = null;
  /** What RUN found (ALPHA's research, BETA's success criteria), for every orchestration prompt. */
  findings: string | undefined;
  /** The simulator's latency on the longest chain of sequential calls so far (see PipelineResult). */
  llmCriticalPathMs = 0;
  /** Agents revoked at any point of the run, for the result. */
  readonly revoked: Role[] = [];
  orchestration: OrchestrationRecord = {
    status: 'PENDING',
    attempt: 0,
    round: 0,
    proposals: [],
    votes: [],
    consensus: null,
    messages: [],
    rejectedVotes: [],
    handoffs: [],
    subproblems: [],
    partial: null,
  };

  readonly outbox: Outbox;
  readonly agents: AgentChannel;
  readonly gamma: Gamma;

  constructor(public settings: PipelineSettings) {
    this.outbox = new Outbox(settings.pipelineId);
    this.agents = new AgentChannel(this);
    this.gamma = new Gamma(this);
  }

  statusView(): StatusView {
    return {
      pipelineId: this.settings.pipelineId,
      phase: this.phase,
      status: this.status,
      agents: this.agents.views(),
      gamma: this.gamma.view(),
      breaker: this.agents.breaker,
      cost: { spentUsd: this.agents.costUsd, budgetUsd: this.settings.budgets.costUsd },
      outbox: this.outbox.stallView,
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  orchestrationView(): OrchestrationView {
    return {
      ...this.orchestration,
      mode: this.settings.mode,
      model: this.settings.model,
      gamma: { ...this.gamma.view(), requests: this.gamma.requests },
    };
  }

  touch(): void {
    this.updatedAt = nowIso();
  }

  /** Moves to a phase and/or status: search attributes, Web UI details, event, checkpoint. */
  enter(phase: Phase, status: PipelineStatusName): void {
    const phaseChanged = phase !== this.phase;
    this.phase = phase;
    this.status = status;
    this.touch();
    upsertSearchAttributes([
      { key: PipelineStatusKey, value: status },
      { key: PipelinePhaseKey, value: phase },
      { key: LlmModeKey, value: this.settings.mode },
    ]);
    this.showDetails();
    if (phaseChanged) this.outbox.emit('phase_changed', { phase, status });
    this.checkpoint();
  }

  /** The Web UI's "current details" of the pipeline. */
  showDetails(): void {
    const o = this.orchestration;
    const gammaReason = this.gamma.view().reason;
    const lines = [`**${this.status}** · phase ${this.phase} · mode ${this.settings.mode}`];
    if (o.round) lines.push(`round ${o.round}/${this.settings.maxRounds} · ${o.proposals.length} proposals · ${o.votes.length} votes`);
    if (o.consensus) lines.push(`consensus: ${o.consensus.proposalId} "${o.consensus.title}"`);
    if (gammaReason) lines.push(`GAMMA: ${gammaReason}`);
    setCurrentDetails(lines.join('\n\n'));
  }

  checkpoint(): void {
    const { phase, status, updatedAt } = this;
    const data = { ...this.statusView(), round: this.orchestration.round, consensus: this.orchestration.consensus, report: this.report };
    this.outbox.checkpoint({ phase, status, data, ts: updatedAt });
  }

  /** A revoked agent: its handoff goes to the blackboard, the ledger and the agent_revoked event. */
  recordRevocation(handoff: Handoff, attempt: number): void {
    if (!this.revoked.includes(handoff.role)) this.revoked.push(handoff.role);
    this.orchestration.handoffs.push(handoff);
    this.outbox.write({ kind: 'handoff', value: handoff });
    this.outbox.emit('agent_revoked', {
      agent_id: handoff.agentId,
      role: handoff.role.toUpperCase(),
      reason: handoff.reason,
      handoff: { did: handoff.did, left: handoff.left },
    });
    this.outbox.recordHandoff(attempt, handoff);
    this.touch();
  }
}
