import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { continueUpdate } from '../common/messages';
import type { PipelineEvent } from '../common/types';
import { startRedisServer, type Managed } from '../devstack/processes';
import { freePort } from '../devstack/temporalServer';
import { boardKeys } from '../lib/blackboard';
import { eventsSince } from '../lib/events';
import { listen, startApi, WsClient, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';

// Redis is a mirror, the ledger the record: when Redis loses a pipeline's events (FLUSHALL, a restart
// without persistence, expiry), /ws replays them from the ledger's audit events, every seq once and in
// order. A finished pipeline's Redis keys carry the retention expiry. On a redis-server of this file's
// own, since FLUSHALL would wipe every other test's keys.

const RETENTION_SECONDS = 3600;
let redisServer: Managed;
let h: Harness;
let app: Api;
let address: string;
before(async () => {
  const port = await freePort();
  redisServer = await startRedisServer(port);
  h = await startHarness('wsgap', { env: { REDIS_URL: `redis://127.0.0.1:${port}`, EVENT_RETENTION_SECONDS: String(RETENTION_SECONDS) } });
  app = await startApi(h);
  address = await listen(app);
});
after(async () => {
  await app?.close();
  await h?.stop();
  await redisServer?.stop();
});

const seqs = (events: PipelineEvent[]) => events.map((e) => e.seq);
const finished = (events: PipelineEvent[]) => events.some((e) => e.type === 'pipeline_finished');

async function watch(pipelineId: string, since: number): Promise<PipelineEvent[]> {
  const client = await WsClient.open(address, `?pipeline_id=${pipelineId}&since=${since}&partials=false`);
  await client.until(finished, 30_000);
  await client.close();
  return client.events;
}

describe('/ws after Redis lost the events', () => {
  test('a finished pipeline: its keys expire after EVENT_RETENTION_SECONDS; after FLUSHALL /ws?since=0 still replays 1..N from the ledger', async () => {
    const handle = await h.start({});
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    assert.equal((await handle.result()).status, 'COMPLETED');

    const stored = await eventsSince(h.redis, pipelineId, 0);
    assert.ok(stored.length > 5);
    const k = boardKeys(pipelineId);
    for (const key of [k.events, k.run, k.proposals, k.votes]) {
      const ttl = await h.redis.ttl(key);
      assert.ok(ttl > 0 && ttl <= RETENTION_SECONDS, `${key} expires (ttl ${ttl})`);
    }

    await h.redis.flushall();
    const replayed = await watch(pipelineId, 0);
    assert.deepEqual(
      seqs(replayed),
      stored.map((_, i) => i + 1),
      'every seq once, in order',
    );
    assert.deepEqual(replayed, stored, 'each event as Redis had it');
    assert.deepEqual(seqs(await watch(pipelineId, 3)), seqs(stored).slice(3), 'a client resuming with since gets the rest');

    // Temporal forgets a closed workflow after its namespace's retention: a pipeline only the ledger
    // knows (its rows copied under an id Temporal never saw) is still served.
    const gone = `${pipelineId}-gone`;
    const runKey = h.ledger.results(pipelineId)[0]!.run_key;
    h.ledger.recordBatch({
      pipelineId: gone,
      runKey,
      pipeline: { workflowId: `pipeline-${gone}`, settings: h.ledger.pipelineSettings(pipelineId)!, createdAt: new Date().toISOString() },
      checkpoints: [],
      handoffs: [],
      calls: [],
      events: stored.map((e) => ({ ...e, pipeline_id: gone })),
    });
    await assert.rejects(h.client.workflow.getHandle(`pipeline-${gone}`).describe(), 'Temporal does not know it');
    assert.deepEqual(seqs(await watch(gone, 0)), seqs(stored), 'replayed from the ledger alone');
  });

  test('FLUSHALL mid-run: events before the flush come from the ledger, later ones from Redis, gapless', async () => {
    const handle = await h.start({ autoContinue: false });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'REPORT');
    const before = (await eventsSince(h.redis, pipelineId, 0)).length;
    assert.ok(before > 3);
    await h.redis.flushall();
    await handle.executeUpdate(continueUpdate, { args: [{}] });
    assert.equal((await handle.result()).status, 'COMPLETED');
    assert.ok((await eventsSince(h.redis, pipelineId, 0))[0]!.seq > before, 'Redis has only the events after the flush');

    const replayed = await watch(pipelineId, 0);
    assert.deepEqual(
      seqs(replayed),
      replayed.map((_, i) => i + 1),
      'every seq once, in order',
    );
    assert.equal(replayed.at(-1)!.type, 'pipeline_finished');
  });
});
