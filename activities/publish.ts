import type { Redis } from 'ioredis';
import type { PipelineEvent } from '../common/types';
import { applyBoardWrites, claimBoard, type BoardWrite } from '../lib/blackboard';
import { publishEvents } from '../lib/events';

// Mirrors the workflow's state into Redis for watchers: blackboard writes and events, in one batch.
// Idempotent: keyed writes and seq-keyed events.

export interface PublishBatch {
  pipelineId: string;
  runKey: string;
  board: BoardWrite[];
  events: PipelineEvent[];
}

export function createPublishActivities(redis: Redis) {
  return {
    async publish(batch: PublishBatch): Promise<{ published: number }> {
      await claimBoard(redis, batch.pipelineId, batch.runKey);
      if (batch.board.length) {
        const tx = redis.multi();
        applyBoardWrites(tx, batch.pipelineId, batch.board);
        await tx.exec();
      }
      return { published: await publishEvents(redis, batch.pipelineId, batch.events) };
    },
  };
}
