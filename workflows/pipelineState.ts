import { CancellationScope, proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo, log } from '@temporalio/workflow';
import type { LedgerActivities, PublishActivities } from '../activities';
import { ledgerTaskQueue } from '../common/ids';
import { GammaReasonKey, LlmModeKey, PipelinePhaseKey, PipelineStatusKey } from '../common/searchAttributes';
import type {
  AgentView,
  EventType,
  GammaReason,
  Handoff,
  GammaRequest,
  OrchestrationView,
  PipelineEvent,
  PipelineResult,
  PipelineSettings,
  Phase,
  PipelineStatusName,
  Report,
  Role,
  StatusView,
} from '../common/types';
import type { BoardWrite } from '../lib/blackboard';
import { nowIso } from './time';

// The pipeline's authoritative state, the views the queries return, and the outbox that mirrors the
// state to Redis and the ledger. Mirroring runs in a chain of non-cancellable activities beside the
// pipeline's critical path: watchers see events in seq order, and a stop never loses one.

const { publish } = proxyActivities<PublishActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '200ms', maximumInterval: '10s' },
});


export class PipelineState {
  phase: Phase = 'SPAWN';
  status: PipelineStatusName = 'SPAWNING';
  readonly startedAt = workflowInfo().startTime.toISOString();
  updatedAt = this.startedAt;
  readonly agents = new Map<string, AgentView>();
  report: Report | null = null;
  readonly gammaRequests: GammaRequest[] = [];
  gammaPending: { reason: GammaReason; detail?: string } | null = null;
  gammaReason: GammaReason | null = null;
  gammaSpawned = false;
  /** At most one GAMMA per orchestration: set once this orchestration has one (a rerun clears it). */
  gammaThisOrchestration = false;
  /** Agents revoked at any point of the run, for the result. */
  readonly revoked: Role[] = [];
  orchestration: Omit<OrchestrationView, 'gamma' | 'mode' | 'model'> = {
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

  private seq = 0;
  private checkpoints = 0;
  private events: PipelineEvent[] = [];
  private board: BoardWrite[] = [];
  private chain: Promise<void> = Promise.resolve();
  private readonly runKey = workflowInfo().firstExecutionRunId;
  private readonly ledger = proxyActivities<LedgerActivities>({
    taskQueue: ledgerTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '30s',
    retry: { initialInterval: '200ms', maximumInterval: '10s' },
  });

  constructor(public settings: PipelineSettings) {}

  get ref() {
    return { pipelineId: this.settings.pipelineId, runKey: this.runKey };
  }

  statusView(): StatusView {
    return {
      pipelineId: this.settings.pipelineId,
      phase: this.phase,
      status: this.status,
      agents: [...this.agents.values()],
      gamma: { spawned: this.gammaSpawned, reason: this.gammaReason },
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  orchestrationView(): OrchestrationView {
    return {
      ...this.orchestration,
      mode: this.settings.mode,
      model: this.settings.model,
      gamma: { spawned: this.gammaSpawned, reason: this.gammaReason, requests: this.gammaRequests },
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
    setCurrentDetails(this.details());
    if (phaseChanged) this.emit('phase_changed', { phase, status });
    this.checkpoint();
  }

  setGammaReason(reason: GammaReason): void {
    this.gammaReason = reason;
    upsertSearchAttributes([{ key: GammaReasonKey, value: reason }]);
    setCurrentDetails(this.details());
  }

  private details(): string {
    const o = this.orchestration;
    const lines = [`**${this.status}** · phase ${this.phase} · mode ${this.settings.mode}`];
    if (o.round) lines.push(`round ${o.round}/${this.settings.maxRounds} · ${o.proposals.length} proposals · ${o.votes.length} votes`);
    if (o.consensus) lines.push(`consensus: ${o.consensus.proposalId} "${o.consensus.title}"`);
    if (this.gammaReason) lines.push(`GAMMA: ${this.gammaReason}`);
    return lines.join('\n\n');
  }

  emit(type: EventType, data: Record<string, unknown>): void {
    this.events.push({ type, pipeline_id: this.settings.pipelineId, seq: ++this.seq, ts: nowIso(), data: { pipeline_id: this.settings.pipelineId, ...data } });
  }

  write(w: BoardWrite): void {
    this.board.push(w);
  }

  checkpoint(): void {
    const n = ++this.checkpoints;
    // Captured now: the write runs later, when the pipeline may have moved on.
    const { phase, status, updatedAt } = this;
    const data = { ...this.statusView(), round: this.orchestration.round, consensus: this.orchestration.consensus, report: this.report };
    const args = { ...this.ref, key: `${n}-${phase}-${status}`, phase, status, data, ts: updatedAt };
    this.enqueue(() => this.ledger.recordCheckpoint.executeWithOptions({ summary: `checkpoint ${n} · ${phase} · ${status}` }, [args]));
  }

  recordPipeline(): void {
    const args = { ...this.ref, workflowId: workflowInfo().workflowId, settings: this.settings, createdAt: this.startedAt };
    this.enqueue(() => this.ledger.recordPipeline.executeWithOptions({ summary: 'ledger · pipeline row' }, [args]));
  }

  /** A revoked agent: its handoff goes to the blackboard, the ledger and the agent_revoked event. */
  revokeAgent(handoff: Handoff, attempt: number): void {
    if (!this.revoked.includes(handoff.role)) this.revoked.push(handoff.role);
    this.orchestration.handoffs.push(handoff);
    this.write({ kind: 'handoff', value: handoff });
    this.emit('agent_revoked', { agent_id: handoff.agentId, role: handoff.role.toUpperCase(), reason: handoff.reason, handoff: { did: handoff.did, left: handoff.left } });
    const args = { ...this.ref, attempt, handoff };
    this.enqueue(() => this.ledger.recordHandoff.executeWithOptions({ summary: `ledger · handoff ${handoff.role.toUpperCase()}` }, [args]));
    this.touch();
  }

  recordResult(result: PipelineResult): void {
    const ts = nowIso();
    this.enqueue(() => this.ledger.recordResult.executeWithOptions({ summary: `ledger · result ${result.status}` }, [{ ...this.ref, result, ts }]));
  }

  /** Sends what was emitted and written since the last flush, after everything sent before it. */
  flush(): void {
    if (this.events.length === 0 && this.board.length === 0) return;
    const events = this.events;
    const board = this.board;
    this.events = [];
    this.board = [];
    const types = [...new Set(events.map((e) => e.type))].join(', ');
    const range = events.length ? `events ${events[0]!.seq}–${events.at(-1)!.seq}` : 'blackboard';
    this.enqueue(() =>
      Promise.all([
        publish.executeWithOptions({ summary: `publish · ${range}${types ? ` · ${types}` : ''}` }, [{ ...this.ref, board, events }]),
        events.length ? this.ledger.recordAudit.executeWithOptions({ summary: `audit · ${range}` }, [{ ...this.ref, events }]) : undefined,
      ]),
    );
  }

  /** Resolves when everything queued so far has been written. */
  async drain(): Promise<void> {
    this.flush();
    await this.chain;
  }

  private enqueue(op: () => Promise<unknown>): void {
    // Non-cancellable: a stop or cancellation of the pipeline must not cancel its own record keeping.
    this.chain = this.chain.then(() =>
      CancellationScope.nonCancellable(op).then(
        () => undefined,
        (err: unknown) => log.error('mirroring failed', { pipelineId: this.settings.pipelineId, error: String(err) }),
      ),
    );
  }
}
