import type { Redis } from 'ioredis';
import type { PipelineEvent } from '../common/types';
import { boardKeys } from './blackboard';

// Pipeline events: kept per pipeline in a sorted set scored by `seq` (so a watcher can replay what
// came after the last seq it saw) and published live on Redis pub/sub. The pipeline workflow assigns
// every seq, so a retried publish carries byte-identical events: ZADD NX makes it a no-op, and the
// live publish happens only for an event stored for the first time.

export const ALL_EVENTS_CHANNEL = 'ag:events';
export const pipelineChannel = (pipelineId: string): string => `ag:events:${pipelineId}`;

const STORE_AND_PUBLISH = `
local added = 0
for i = 1, #ARGV, 2 do
  if redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('PUBLISH', KEYS[2], ARGV[i + 1])
    redis.call('PUBLISH', KEYS[3], ARGV[i + 1])
    added = added + 1
  end
end
return added`;

export async function publishEvents(redis: Redis, pipelineId: string, events: PipelineEvent[]): Promise<number> {
  if (events.length === 0) return 0;
  const args = events.flatMap((e) => [String(e.seq), JSON.stringify(e)]);
  const keys = [boardKeys(pipelineId).events, pipelineChannel(pipelineId), ALL_EVENTS_CHANNEL];
  return (await redis.eval(STORE_AND_PUBLISH, keys.length, ...keys, ...args)) as number;
}

/** Events with seq greater than `since`, in order; the first `limit` of them when given. */
export async function eventsSince(redis: Redis, pipelineId: string, since = 0, limit?: number): Promise<PipelineEvent[]> {
  const key = boardKeys(pipelineId).events;
  const raw = await (limit === undefined ? redis.zrangebyscore(key, `(${since}`, '+inf') : redis.zrangebyscore(key, `(${since}`, '+inf', 'LIMIT', 0, limit));
  return raw.map((s) => JSON.parse(s) as PipelineEvent);
}
