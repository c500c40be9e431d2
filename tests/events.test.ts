import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { PipelineEvent } from '../common/types';
import { EventHub } from '../lib/eventHub';
import { eventsSince, publishEvents } from '../lib/events';
import { followEvents } from '../lib/eventStream';
import { connectRedis } from '../lib/redis';

// The event bus on real Redis: a retried publish changes nothing, and a watcher that joins late
// replays what it missed, then follows live, each event exactly once and in order.

let redis: Redis;
let hub: EventHub;
before(async () => {
  redis = await connectRedis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
  hub = new EventHub(redis);
});
after(async () => {
  await hub.close();
  redis.disconnect();
});

const ev = (pipelineId: string, seq: number): PipelineEvent => ({
  type: 'vote_cast',
  pipeline_id: pipelineId,
  seq,
  ts: '2026-01-01T00:00:00.000Z',
  data: { n: seq },
});

test('publishing is idempotent and a late watcher sees every event exactly once, in order', async () => {
  const id = `evt-${Date.now().toString(36)}`;
  assert.equal(await publishEvents(redis, id, [ev(id, 1), ev(id, 2), ev(id, 3)]), 3);
  assert.equal(await publishEvents(redis, id, [ev(id, 2), ev(id, 3)]), 0, 'a retried batch adds nothing');

  const seen: number[] = [];
  const following = new AbortController();
  const send = (e: PipelineEvent) => {
    seen.push(e.seq);
    return true;
  };
  await followEvents(hub, redis, id, { since: 1, send, fail: (_, detail) => assert.fail(detail), signal: following.signal });
  await publishEvents(redis, id, [ev(id, 3), ev(id, 4)]);
  await publishEvents(redis, id, [ev(id, 5)]);
  await new Promise((r) => setTimeout(r, 200));
  following.abort();
  assert.deepEqual(seen, [2, 3, 4, 5]);
  assert.deepEqual(
    (await eventsSince(redis, id, 3)).map((e) => e.seq),
    [4, 5],
  );
});
