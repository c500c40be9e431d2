import { CancellationScope, log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { MirrorActivities } from '../activities';
import type { MirrorBatch } from '../activities/mirror';
import { ledgerTaskQueue } from '../common/ids';
import type { CallRecord, EventDataMap, EventType, Handoff, PipelineResult, PipelineSettings } from '../common/types';
import type { BoardWrite } from '../lib/blackboard';
import { nowIso } from './time';

// The outbox: everything the pipeline records for the world outside Temporal (events for watchers,
// checkpoints, handoffs, LLM usage and the result row for the ledger, blackboard writes for Redis) is
// queued here and written by one `mirror` activity at a time, beside the pipeline's critical path and
// non-cancellable. What is recorded while a batch is in flight goes in the next one, so a busy
// pipeline sends fewer, larger batches (fewer history events and workflow tasks), watchers see events
// in seq order, and a stop never loses one. The only writer of `seq`, the checkpoint count and the queue.

type Pending = Omit<MirrorBatch, 'pipelineId' | 'runKey'>;
export type CheckpointRow = Omit<Pending['checkpoints'][number], 'key'>;

const emptyPending = (): Pending => ({ checkpoints: [], handoffs: [], events: [], board: [], calls: [] });

/**
 * At most this much of what is pending goes in one activity: after the ledger writer was down for a
 * while, the backlog leaves in several bounded payloads rather than one that could pass the server's
 * payload limit (checkpoints carry the status view and the report).
 */
const BATCH_LIMIT = { events: 200, checkpoints: 10, board: 300, calls: 200, handoffs: 20 };

export class Outbox {
  private seq = 0;
  private checkpoints = 0;
  private pending: Pending = emptyPending();
  private sending: Promise<void> | null = null;
  private readonly runKey = workflowInfo().firstExecutionRunId;
  private readonly activities = proxyActivities<MirrorActivities>({
    taskQueue: ledgerTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '30s',
    retry: { initialInterval: '200ms', maximumInterval: '10s' },
  });

  constructor(private readonly pipelineId: string) {}

  /** Where the numbering stands, for the next run when the pipeline continues as new (workflows/carry.ts). */
  get counters(): { seq: number; checkpoints: number } {
    return { seq: this.seq, checkpoints: this.checkpoints };
  }

  resumeCounters(c: { seq: number; checkpoints: number }): void {
    this.seq = c.seq;
    this.checkpoints = c.checkpoints;
  }

  emit<T extends EventType>(type: T, data: EventDataMap[T]): void {
    this.pending.events.push({ type, pipeline_id: this.pipelineId, seq: ++this.seq, ts: nowIso(), data: { pipeline_id: this.pipelineId, ...data } });
  }

  write(w: BoardWrite): void {
    this.pending.board.push(w);
  }

  /** A checkpoint row, numbered in the order taken (its data is captured now: the write runs later). */
  checkpoint(row: CheckpointRow): void {
    this.pending.checkpoints.push({ key: `${++this.checkpoints}-${row.phase}-${row.status}`, ...row });
  }

  recordPipeline(settings: PipelineSettings, createdAt: string): void {
    this.pending.pipeline = { workflowId: workflowInfo().workflowId, settings, createdAt };
  }

  recordHandoff(attempt: number, handoff: Handoff): void {
    this.pending.handoffs.push({ attempt, handoff });
  }

  recordCalls(calls: readonly CallRecord[]): void {
    this.pending.calls.push(...calls);
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
      const batch: MirrorBatch = { pipelineId: this.pipelineId, runKey: this.runKey, ...takeBatch(this.pending) };
      // Non-cancellable: a stop or cancellation of the pipeline must not cancel its own record keeping.
      await CancellationScope.nonCancellable(() => this.activities.mirror.executeWithOptions({ summary: batchSummary(batch) }, [batch])).catch((err: unknown) =>
        log.error('mirroring failed', { pipelineId: this.pipelineId, error: String(err) }),
      );
    }
  }
}

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
