import { CancellationScope, log, proxyActivities, sleep, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import type { MirrorActivities } from '../activities';
import type { MirrorBatch, MirrorOutcome } from '../activities/mirror';
import { ledgerTaskQueue } from '../common/ids';
import { OutboxStalledKey } from '../common/searchAttributes';
import type { CallRecord, EventDataMap, EventType, Handoff, OutboxStall, PipelineEvent, PipelineResult, PipelineSettings } from '../common/types';
import type { BoardWrite } from '../lib/blackboard';
import { nowIso } from './time';

// The outbox: everything the pipeline records for the world outside Temporal (events for watchers,
// checkpoints, handoffs, LLM usage and the result row for the ledger, blackboard writes for Redis) is
// queued here and written by one `mirror` activity at a time, beside the pipeline's critical path and
// non-cancellable. What is recorded while a batch is in flight goes in the next one, so a busy
// pipeline sends fewer, larger batches (fewer history events and workflow tasks), watchers see events
// in seq order, and a stop never loses one. The only writer of `seq`, the checkpoint count and the queue.
//
// It never spins invisibly and never drops a batch. A batch the ledger refuses (locked, full,
// read-only) is tried a few times by the activity's retry, then the outbox shows the stall in the
// `status` query (`outbox`), logs it, waits on a timer (backing off up to five minutes) and tries the
// same batch again, until the ledger takes it. Redis is a mirror: when only Redis fails, the activity
// has already written the ledger and says so; the events and board writes wait in a bounded backlog
// for the next batch, and the ledger part of later batches (the result row included) goes on.

type Pending = Omit<MirrorBatch, 'pipelineId' | 'runKey' | 'finished'>;
export type CheckpointRow = Omit<Pending['checkpoints'][number], 'key'>;

const emptyPending = (): Pending => ({ checkpoints: [], handoffs: [], events: [], board: [], calls: [] });

/**
 * At most this much of what is pending goes in one activity: after the ledger writer was down for a
 * while, the backlog leaves in several bounded payloads rather than one that could pass the server's
 * payload limit (checkpoints carry the status view and the report).
 */
const BATCH_LIMIT = { events: 200, checkpoints: 10, board: 300, calls: 200, handoffs: 20 };

/** Tries of one batch by the activity's own retry before the outbox shows a stall and waits on a timer. */
const ACTIVITY_ATTEMPTS = 3;
/** The wait after a failed batch: doubling from the first to the last, then every `maxMs`. */
const STALL_WAIT = { firstMs: 5_000, maxMs: 300_000 };
const stallWait = (failures: number): number => Math.min(STALL_WAIT.firstMs * 2 ** Math.max(0, failures - 1), STALL_WAIT.maxMs);

export class Outbox {
  private seq = 0;
  private checkpoints = 0;
  private pending: Pending = emptyPending();
  private sending: Promise<void> | null = null;
  /** What Redis did not take (the ledger has it): sent again, first, with the next batch. */
  private backlog: { events: PipelineEvent[]; board: BoardWrite[] } = { events: [], board: [] };
  /** The result row has been sent: later batches, and this one's Redis keys, get the retention expiry. */
  private finished = false;
  private stall: OutboxStall | null = null;
  private readonly runKey = workflowInfo().firstExecutionRunId;
  private readonly activities = proxyActivities<MirrorActivities>({
    taskQueue: ledgerTaskQueue(workflowInfo().taskQueue),
    startToCloseTimeout: '30s',
    retry: { initialInterval: '500ms', maximumInterval: '5s', maximumAttempts: ACTIVITY_ATTEMPTS },
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

  /** Null while writes go through; what is stalled, since when and why otherwise (the `status` query). */
  get stallView(): OutboxStall | null {
    return this.stall;
  }

  /** Sends what was recorded since the last batch, after everything sent before it. */
  flush(): void {
    if (this.sending || !this.hasWork()) return; // the batch in flight picks it up when it is done
    this.sending = this.sendAll().finally(() => void (this.sending = null));
  }

  /** Resolves when everything recorded so far has been written. */
  async drain(): Promise<void> {
    this.flush();
    while (this.sending) await this.sending;
  }

  private hasWork(): boolean {
    return !isEmpty(this.pending) || this.backlog.events.length > 0 || this.backlog.board.length > 0;
  }

  private async sendAll(): Promise<void> {
    // Non-cancellable: a stop or cancellation of the pipeline must not cancel its own record keeping.
    await CancellationScope.nonCancellable(async () => {
      let redisFailures = 0;
      while (this.hasWork()) {
        const batch = this.nextBatch();
        const outcome = await this.sendToLedger(batch);
        if (outcome.redisError === undefined) {
          if (this.stall) {
            log.info('outbox resumed', { pipelineId: this.pipelineId, target: this.stall.target, attempts: this.stall.attempts });
            upsertSearchAttributes([{ key: OutboxStalledKey, value: null }]);
          }
          this.stall = null;
          redisFailures = 0;
          continue;
        }
        // The ledger has the batch; Redis gets its events and board writes with the next one. Bounded:
        // the oldest events past the limit are left to the ledger, which /ws reads a gap back from.
        this.backlog = { events: batch.events.slice(-BATCH_LIMIT.events), board: batch.board.slice(-BATCH_LIMIT.board) };
        redisFailures++;
        const wait = isEmpty(this.pending) ? stallWait(redisFailures) : 0;
        this.showStall('redis', redisFailures, outcome.redisError, wait); // one try each: the activity reports, not retries, a Redis failure
        // More for the ledger goes at once; a Redis-only backlog waits on a timer instead of spinning.
        if (wait) await sleep(wait, { summary: `outbox: Redis mirror stalled, retry ${redisFailures}` });
      }
    });
  }

  /** Sends one batch until the ledger has taken it, showing the stall and waiting between tries. */
  private async sendToLedger(batch: MirrorBatch): Promise<MirrorOutcome> {
    for (let failures = 1; ; failures++) {
      try {
        return await this.activities.mirror.executeWithOptions({ summary: batchSummary(batch) }, [batch]);
      } catch (err) {
        const wait = stallWait(failures);
        this.showStall('ledger', failures * ACTIVITY_ATTEMPTS, failureText(err), wait, batch.events.length);
        await sleep(wait, { summary: `outbox: ledger write stalled, retry ${failures}` });
      }
    }
  }

  private showStall(target: OutboxStall['target'], attempts: number, lastError: string, waitMs: number, inFlight = 0): void {
    if (this.stall?.target !== target) upsertSearchAttributes([{ key: OutboxStalledKey, value: target }]);
    const since = this.stall?.target === target ? this.stall.since : nowIso();
    const pending = inFlight + this.pending.events.length + this.backlog.events.length;
    const retryAt = new Date(Date.now() + waitMs).toISOString();
    this.stall = { target, pending, attempts, lastError, since, retryAt };
    log.warn(`outbox stalled: the ${target} write keeps failing; retrying`, { pipelineId: this.pipelineId, ...this.stall });
  }

  /** The next batch: Redis's backlog first (its events come before the new ones), then what is pending. */
  private nextBatch(): MirrorBatch {
    const taken = takeBatch(this.pending);
    if (taken.result) this.finished = true;
    const batch: MirrorBatch = {
      pipelineId: this.pipelineId,
      runKey: this.runKey,
      ...taken,
      events: [...this.backlog.events, ...taken.events],
      board: [...this.backlog.board, ...taken.board],
      ...(this.finished ? { finished: true } : {}),
    };
    this.backlog = { events: [], board: [] };
    return batch;
  }
}

/** The cause of an activity failure, briefly: what the status shows and the log line says. */
function failureText(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause as typeof e;
  return String(e?.message ?? err).slice(0, 300);
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
