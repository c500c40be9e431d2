import { CancellationScope, proxyActivities, setCurrentDetails, upsertSearchAttributes, workflowInfo, log } from '@temporalio/workflow';
import type { MirrorActivities } from '../activities';
import type { MirrorBatch } from '../activities/mirror';
import { ledgerTaskQueue } from '../common/ids';
import { GammaReasonKey, LlmModeKey, PipelinePhaseKey, PipelineStatusKey } from '../common/searchAttributes';
import type {
  AgentView,
  BreakerView,
  CallRecord,
  EventType,
  GammaReason,
  Handoff,
  GammaRequest,
  OrchestrationView,
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
// state to the ledger and Redis. The outbox is one `mirror` activity at a time, beside the pipeline's
// critical path and non-cancellable: what is recorded while one is in flight goes in the next, so a
// busy pipeline sends fewer, larger batches (fewer history events and workflow tasks), watchers see
// events in seq order, and a stop never loses one.

type Pending = Omit<MirrorBatch, 'pipelineId' | 'runKey'>;
const emptyPending = (): Pending => ({ checkpoints: [], handoffs: [], events: [], board: [], calls: [] });

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
  /**
   * Tokens of every call of the run. Summed here, not from the agents' views: a `recover` rerun starts
   * agents under the same ids, whose views replace the first orchestration's.
   */
  tokens = 0;
  /** The shared LLM breaker as the latest call of any agent saw it. */
  breaker: BreakerView | null = null;
  /** The simulator's latency on the longest chain of sequential calls so far (see PipelineResult). */
  llmCriticalPathMs = 0;
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
  private pending: Pending = emptyPending();
  private sending: Promise<void> | null = null;
  private readonly runKey = workflowInfo().firstExecutionRunId;
  private readonly outbox = proxyActivities<MirrorActivities>({
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
      breaker: this.breaker,
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

  /** An agent's calls: their usage goes to the ledger with the next batch and into the agent's view. */
  recordCalls(calls: readonly CallRecord[] | undefined): void {
    for (const c of calls ?? []) {
      this.pending.calls.push(c);
      this.tokens += c.totalTokens;
      const view = this.agents.get(c.agentId);
      if (!view) continue;
      const u = (view.usage ??= { promptTokens: 0, completionTokens: 0, calls: 0 });
      u.promptTokens += c.promptTokens;
      u.completionTokens += c.completionTokens;
      u.calls += 1;
      if (c.costUsd !== undefined) u.costUsd = Math.round(((u.costUsd ?? 0) + c.costUsd) * 1e9) / 1e9;
    }
  }

  /** Keeps the newest observation of the breaker (agents report theirs at the end of each turn). */
  observeBreaker(b: BreakerView | undefined): void {
    if (b && (!this.breaker || b.observedAt >= this.breaker.observedAt)) this.breaker = b;
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
    this.pending.events.push({
      type,
      pipeline_id: this.settings.pipelineId,
      seq: ++this.seq,
      ts: nowIso(),
      data: { pipeline_id: this.settings.pipelineId, ...data },
    });
  }

  write(w: BoardWrite): void {
    this.pending.board.push(w);
  }

  checkpoint(): void {
    const n = ++this.checkpoints;
    // Captured now: the write runs later, when the pipeline may have moved on.
    const { phase, status, updatedAt } = this;
    const data = { ...this.statusView(), round: this.orchestration.round, consensus: this.orchestration.consensus, report: this.report };
    this.pending.checkpoints.push({ key: `${n}-${phase}-${status}`, phase, status, data, ts: updatedAt });
  }

  recordPipeline(): void {
    this.pending.pipeline = { workflowId: workflowInfo().workflowId, settings: this.settings, createdAt: this.startedAt };
  }

  /** A revoked agent: its handoff goes to the blackboard, the ledger and the agent_revoked event. */
  revokeAgent(handoff: Handoff, attempt: number): void {
    if (!this.revoked.includes(handoff.role)) this.revoked.push(handoff.role);
    this.orchestration.handoffs.push(handoff);
    this.write({ kind: 'handoff', value: handoff });
    this.emit('agent_revoked', {
      agent_id: handoff.agentId,
      role: handoff.role.toUpperCase(),
      reason: handoff.reason,
      handoff: { did: handoff.did, left: handoff.left },
    });
    this.pending.handoffs.push({ attempt, handoff });
    this.touch();
  }

  recordResult(result: PipelineResult): void {
    this.pending.result = { result, ts: nowIso() };
  }

  /** Sends what was recorded since the last batch, after everything sent before it. */
  flush(): void {
    if (this.sending || isEmpty(this.pending)) return; // the batch in flight picks it up when it is done
    this.sending = this.sendAll().finally(() => void (this.sending = null));
  }

  /** Resolves when everything recorded so far has been written. */
  async drain(): Promise<void> {
    this.flush();
    while (this.sending) await this.sending;
  }

  private async sendAll(): Promise<void> {
    while (!isEmpty(this.pending)) {
      const batch: MirrorBatch = { ...this.ref, ...takeBatch(this.pending) };
      // Non-cancellable: a stop or cancellation of the pipeline must not cancel its own record keeping.
      await CancellationScope.nonCancellable(() => this.outbox.mirror.executeWithOptions({ summary: batchSummary(batch) }, [batch])).catch((err: unknown) =>
        log.error('mirroring failed', { pipelineId: this.settings.pipelineId, error: String(err) }),
      );
    }
  }
}

/**
 * At most this much of what is pending goes in one activity: after the ledger writer was down for a
 * while, the backlog leaves in several bounded payloads rather than one that could pass the server's
 * payload limit (checkpoints carry the status view and the report).
 */
const BATCH_LIMIT = { events: 200, checkpoints: 10, board: 300, calls: 200, handoffs: 20 };

/** Takes the next batch out of `p`; the result row goes last, with the batch that empties the rest. */
function takeBatch(p: Pending): Pending {
  const batch: Pending = {
    checkpoints: p.checkpoints.splice(0, BATCH_LIMIT.checkpoints),
    handoffs: p.handoffs.splice(0, BATCH_LIMIT.handoffs),
    events: p.events.splice(0, BATCH_LIMIT.events),
    board: p.board.splice(0, BATCH_LIMIT.board),
    calls: p.calls.splice(0, BATCH_LIMIT.calls),
  };
  if (p.pipeline) batch.pipeline = p.pipeline;
  delete p.pipeline;
  if (p.result && isEmpty({ ...p, result: undefined })) {
    batch.result = p.result;
    delete p.result;
  }
  return batch;
}

const isEmpty = (p: Pending): boolean =>
  !p.pipeline && !p.result && !p.checkpoints.length && !p.handoffs.length && !p.events.length && !p.board.length && !p.calls.length;

/** What the Web UI shows for a batch: its events and the ledger rows it carries. */
function batchSummary(b: MirrorBatch): string {
  const parts: string[] = [];
  if (b.events.length) {
    const types = [...new Set(b.events.map((e) => e.type))];
    parts.push(`events ${b.events[0]!.seq}–${b.events.at(-1)!.seq} · ${types.slice(0, 4).join(', ')}${types.length > 4 ? ', …' : ''}`);
  }
  if (b.pipeline) parts.push('pipeline row');
  if (b.checkpoints.length) parts.push(`checkpoint ${b.checkpoints.map((c) => c.key).join(', ')}`);
  if (b.handoffs.length) parts.push(`handoff ${b.handoffs.map((h) => h.handoff.role.toUpperCase()).join(', ')}`);
  if (b.calls.length) parts.push(`${b.calls.length} LLM call${b.calls.length > 1 ? 's' : ''}`);
  if (b.result) parts.push(`result ${b.result.result.status}`);
  if (!parts.length) parts.push('blackboard');
  return `mirror · ${parts.join(' · ')}`;
}
