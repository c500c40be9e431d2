import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { continueUpdate, statusQuery } from '../common/messages';
import type { OutboxStall, PipelineEvent } from '../common/types';
import { startRedisServer, type Managed } from '../devstack/processes';
import { freePort } from '../devstack/temporalServer';
import { listen, startApi, WsClient, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';

// Redis down mid-run (stopped, then restarted without persistence, so it comes back empty): the
// ledger is not held back (the result row is written while Redis is still down), the stall shows in
// `status` as `redis`, the pipeline completes once Redis is back, and /ws replays every seq once.
// On a redis-server of this file's own, since it is stopped.

let port: number;
let redisServer: Managed | undefined;
let h: Harness;
let app: Api;
let address: string;
before(async () => {
  port = await freePort();
  redisServer = await startRedisServer(port);
  h = await startHarness('outbox-redis', { env: { REDIS_URL: `redis://127.0.0.1:${port}` } });
  app = await startApi(h);
  address = await listen(app);
});
after(async () => {
  await app?.close();
  await h?.stop();
  await redisServer?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await probe();
    if (v !== undefined) return v;
    await sleep(250);
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('outbox with Redis down', () => {
  test('the ledger gets the result while Redis is down; the stall shows; the pipeline completes when Redis is back; /ws is gapless', async () => {
    const handle = await h.start({ autoContinue: false });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'REPORT');

    await redisServer!.stop();
    redisServer = undefined;
    await handle.executeUpdate(continueUpdate, { args: [{}] });

    const results = await until('the result row in the ledger', () => (h.ledger.results(pipelineId).length ? h.ledger.results(pipelineId) : undefined));
    assert.equal(results[0]!.status, 'COMPLETED', 'the ledger is not held back by Redis');
    const stall = await until<OutboxStall>('the Redis stall in status', async () => (await handle.query(statusQuery)).outbox ?? undefined);
    assert.equal(stall.target, 'redis');
    assert.match(stall.lastError, /connect|closed|ECONNREFUSED|retries/i);
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'it waits for its Redis mirror rather than leave watchers without it');

    redisServer = await startRedisServer(port);
    assert.equal((await handle.result()).status, 'COMPLETED');
    assert.equal((await handle.query(statusQuery)).outbox ?? null, null, 'the stall is cleared');
    assert.equal(h.ledger.results(pipelineId).length, 1, 'one result row');

    const client = await WsClient.open(address, `?pipeline_id=${pipelineId}&since=0&partials=false`);
    await client.until((events: PipelineEvent[]) => events.some((e) => e.type === 'pipeline_finished'), 30_000);
    await client.close();
    const seqs = client.events.map((e) => e.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      'every seq once, in order, though Redis came back empty',
    );
  });
});
