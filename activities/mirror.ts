import type { Redis } from 'ioredis';
import { applyBoardWrites, claimBoard, type BoardWrite } from '../lib/blackboard';
import { publishEvents } from '../lib/events';
import type { Ledger, LedgerBatch } from '../lib/ledger';

// The pipeline's outbox, written by the one worker that owns the ledger (the ledger task queue): what
// the workflow recorded since its last batch — ledger rows (pipeline, checkpoints, handoffs, result,
// audit events, LLM calls' usage) in one SQLite transaction, then the blackboard and the events in Redis. Ledger first,
// so an event a watcher sees is already in the ledger. Every write is keyed, so a retried batch
// changes nothing, and one activity per batch keeps the pipeline's history short.

export interface MirrorBatch extends LedgerBatch {
  board: BoardWrite[];
}

export interface MirrorOutcome {
  /** Rows new to the ledger (0 on a retry that had already written them). */
  rows: number;
  /** Events published for the first time. */
  published: number;
}

export function createMirrorActivities(ledger: Ledger, redis: Redis) {
  return {
    async mirror(batch: MirrorBatch): Promise<MirrorOutcome> {
      const rows = ledger.recordBatch(batch);
      await claimBoard(redis, batch.pipelineId, batch.runKey);
      if (batch.board.length) {
        const tx = redis.multi();
        applyBoardWrites(tx, batch.pipelineId, batch.board);
        await tx.exec();
      }
      return { rows, published: await publishEvents(redis, batch.pipelineId, batch.events) };
    },
  };
}
