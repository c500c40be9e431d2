import { Context } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import { applyBoardWrites, claimBoard, expireBoard, type BoardWrite } from '../lib/blackboard';
import { publishEvents } from '../lib/events';
import type { Ledger, LedgerBatch } from '../lib/ledger';
import { countPipelineEvents } from '../lib/metrics/pipelineEvents';
import type { WorkerMetrics } from '../lib/metrics/series';
import { drainAllTranscripts, drainTranscripts } from '../lib/transcripts';

// The pipeline's outbox, written by the one worker that owns the ledger (the ledger task queue): what
// the workflow recorded since its last batch — ledger rows (pipeline, checkpoints, handoffs, result,
// audit events, LLM calls' usage) in one SQLite transaction, then the blackboard and the events in Redis. Ledger first,
// so an event a watcher sees is already in the ledger. Every write is keyed, so a retried batch
// changes nothing, and one activity per batch keeps the pipeline's history short.
//
// It also moves the pipeline's LLM transcripts from Redis into the ledger (lib/transcripts.ts): the
// calls ran on other workers, and transcripts never pass through the workflow. Housekeeping rides on
// the batches: the transcripts past their retention are pruned when the worker starts and, like the
// sweep of transcripts no pipeline's batch will collect, at the first batch and then daily.

export interface MirrorBatch extends LedgerBatch {
  board: BoardWrite[];
  /** The pipeline has finished (its result row is in this batch or an earlier one): its Redis keys get the retention expiry. */
  finished?: true;
}

export interface MirrorOutcome {
  /** Rows new to the ledger (0 on a retry that had already written them). */
  rows: number;
  /** Events published for the first time. */
  published: number;
  /** Redis did not take the batch (the ledger did): the outbox sends its events and board writes again. */
  redisError?: string;
}

export interface MirrorOptions {
  /** The pipelines' task queue (not `<queue>-ledger`): the sweep collects the transcripts of its calls only. */
  taskQueue?: string;
  /** Transcripts of calls that ended longer ago than this are pruned (TRANSCRIPT_RETENTION_DAYS). */
  transcriptRetentionDays?: number;
  /** A finished pipeline's Redis keys expire this long after its last batch (EVENT_RETENTION_SECONDS). */
  eventRetentionSeconds?: number;
  /** The worker's Prometheus series (lib/metrics/series.ts): pipeline figures from the events new to the ledger. */
  metrics?: WorkerMetrics;
}

const DAY_MS = 86_400_000;

export function createMirrorActivities(ledger: Ledger, redis: Redis, opts: MirrorOptions = {}) {
  const prune = () => {
    if (opts.transcriptRetentionDays) ledger.pruneTranscripts(new Date(Date.now() - opts.transcriptRetentionDays * DAY_MS).toISOString());
  };
  prune();
  let lastSweep = 0;
  const housekeeping = async () => {
    if (Date.now() - lastSweep < DAY_MS) return;
    lastSweep = Date.now();
    prune();
    if (opts.taskQueue) await drainAllTranscripts(redis, ledger, opts.taskQueue);
  };
  /** A failed sweep is tried again in ten minutes, not at every batch of every pipeline. */
  const SWEEP_RETRY_MS = 10 * 60_000;

  return {
    async mirror(batch: MirrorBatch): Promise<MirrorOutcome> {
      // The ledger first; a ledger failure fails the activity (the outbox shows the stall and retries).
      // A locked ledger is waited for on timers, not in SQLite's busy handler, which would freeze this
      // whole worker (every pipeline's workflow tasks and status queries) while it waits.
      let written: ReturnType<Ledger['writeBatch']>;
      try {
        written = await ledger.writeBatchWhenFree(batch);
      } catch (err) {
        opts.metrics?.outboxFailures.inc({ target: 'ledger' });
        throw err;
      }
      let rows = written.rows;
      if (opts.metrics && written.newEvents.length) {
        const ref = { pipelineId: batch.pipelineId, runKey: batch.runKey };
        // Figures are a side view: whatever goes wrong counting them must not fail a written batch.
        try {
          countPipelineEvents(opts.metrics, written.newEvents, (seq) => ledger.phaseStartBefore(ref, seq));
        } catch (err) {
          Context.current().log.warn('pipeline metrics not counted', { pipelineId: batch.pipelineId, error: String(err) });
        }
      }
      let published = 0;
      try {
        published = await mirrorToRedis(redis, batch, opts.eventRetentionSeconds);
      } catch (err) {
        // Redis only mirrors: the ledger has the batch, so the pipeline goes on; the outbox sends the Redis part again.
        const redisError = String((err as Error).message ?? err).slice(0, 300);
        opts.metrics?.outboxFailures.inc({ target: 'redis' });
        Context.current().log.warn('Redis mirror failed; the ledger has the batch', { pipelineId: batch.pipelineId, error: redisError });
        return { rows, published, redisError };
      }
      // Transcripts after the pipeline's own record: a transcript that cannot be written must not hold
      // back its events and result (the batch would be retried forever); it stays stashed for the sweep.
      rows += await drainTranscripts(redis, ledger, opts.taskQueue ?? '', batch.pipelineId).catch((err: unknown) => {
        Context.current().log.warn('transcripts not drained; left for the sweep', { pipelineId: batch.pipelineId, error: String(err) });
        return 0;
      });
      // Not this pipeline's work: a failure is retried later, not by failing this batch.
      await housekeeping().catch((err: unknown) => {
        lastSweep = Date.now() - DAY_MS + SWEEP_RETRY_MS;
        Context.current().log.warn('transcript sweep failed', { error: String(err) });
      });
      return { rows, published };
    },
  };
}

async function mirrorToRedis(redis: Redis, batch: MirrorBatch, retentionSeconds: number | undefined): Promise<number> {
  await claimBoard(redis, batch.pipelineId, batch.runKey);
  if (batch.board.length) {
    const tx = redis.multi();
    applyBoardWrites(tx, batch.pipelineId, batch.board);
    await tx.exec();
  }
  const published = await publishEvents(redis, batch.pipelineId, batch.events);
  if (batch.finished && retentionSeconds) {
    const tx = redis.multi();
    expireBoard(tx, batch.pipelineId, retentionSeconds);
    await tx.exec();
  }
  return published;
}
