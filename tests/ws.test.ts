import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pipelineWorkflowId } from '../common/ids';
import type { PipelineEvent } from '../common/types';
import { boardKeys } from '../lib/blackboard';
import { eventsSince, publishEvents } from '../lib/events';
import { PipelineEventStream } from '../lib/eventStream';
import { json, listen, startApi, WsClient, type Api } from './helpers/api';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// GET /ws on a real server, real Redis and real pipelines: a client that disconnects mid-pipeline and
// reconnects with `since` receives every event exactly once, in order; a slow client is dropped
// without holding up anyone else.

let h: Harness;
let app: Api;
let address: string;
before(async () => {
  h = await startHarness('ws');
  app = await startApi(h);
  address = await listen(app);
});
after(async () => {
  await app?.close();
  await h?.stop();
});

const finished = (events: PipelineEvent[]) => events.some((e) => e.type === 'pipeline_finished');
const seqs = (events: PipelineEvent[]) => events.map((e) => e.seq);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function spawn(body: Record<string, unknown>): Promise<string> {
  const r = await app.inject({ method: 'POST', url: '/api/spawn', payload: { objective: 'Design a caching strategy', mode: 'local', ...body } });
  assert.equal(r.statusCode, 201, r.body);
  return json<{ pipeline_id: string }>(r).pipeline_id;
}

/** The events received over both connections are exactly the stored ones: every seq once, in order. */
async function assertExactlyOnce(pipelineId: string, received: PipelineEvent[]): Promise<void> {
  const stored = await eventsSince(h.redis, pipelineId, 0);
  assert.ok(stored.length > 5, 'the pipeline produced events');
  assert.deepEqual(seqs(received), seqs(stored), 'every event exactly once, in order');
  assert.deepEqual(received, stored, 'and each as it was stored');
  assert.deepEqual(
    seqs(stored),
    stored.map((_, i) => i + 1),
  );
}

describe('/ws: replay, then live', () => {
  test('disconnect at REPORT, continue while away, reconnect with since: every event exactly once, in order', async () => {
    const pipelineId = await spawn({ auto_continue: false });
    const first = await WsClient.open(address, `?pipeline_id=${pipelineId}&since=0`);
    await first.until((events) => events.some((e) => e.type === 'phase_changed' && e.data.phase === 'REPORT'));
    await first.close();
    const since = first.events.at(-1)!.seq;

    // Events happen while no one watches.
    const cont = await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: pipelineId } });
    assert.equal(cont.statusCode, 202, cont.body);
    await h.client.workflow.getHandle(pipelineWorkflowId(pipelineId)).result();

    const second = await WsClient.open(address, `?pipeline_id=${pipelineId}&since=${since}`);
    await second.until(finished);
    assert.ok(second.events[0]!.seq === since + 1, 'resumes right after the last event seen');
    await assertExactlyOnce(pipelineId, [...first.events, ...second.events]);
    await second.close();
  });

  test('cut off mid-orchestration while events flow, reconnect with since: nothing lost, nothing twice', async () => {
    const pipelineId = await spawn({ auto_continue: true, scenario: 'conflict', latency_ms: 40 });
    const first = await WsClient.open(address, `?pipeline_id=${pipelineId}`);
    await first.until((events) => events.some((e) => e.type === 'proposal_posted'));
    first.ws.terminate(); // abrupt, as a dropped network would be
    await first.closed;
    await sleep(300); // the pipeline goes on meanwhile
    const since = first.events.at(-1)!.seq;
    const second = await WsClient.open(address, `?pipeline_id=${pipelineId}&since=${since}`);
    await second.until(finished);
    await assertExactlyOnce(pipelineId, [...first.events, ...second.events]);
    await second.close();
  });

  test('a client that joins after the end replays everything; since beyond the end gives nothing and waits', async () => {
    const pipelineId = await spawn({ auto_continue: true });
    await h.client.workflow.getHandle(pipelineWorkflowId(pipelineId)).result();
    const late = await WsClient.open(address, `?pipeline_id=${pipelineId}`);
    await late.until(finished);
    await assertExactlyOnce(pipelineId, late.events);
    await late.close();
    const past = await WsClient.open(address, `?pipeline_id=${pipelineId}&since=${late.events.at(-1)!.seq}`);
    await sleep(300);
    assert.deepEqual(past.events, []);
    await past.close();
  });

  test('two watchers of one pipeline: when one leaves, the other keeps receiving', async () => {
    const pipelineId = await spawn({ auto_continue: false });
    const a = await WsClient.open(address, `?pipeline_id=${pipelineId}`);
    const b = await WsClient.open(address, `?pipeline_id=${pipelineId}`);
    const atReport = (events: PipelineEvent[]) => events.some((e) => e.type === 'phase_changed' && e.data.phase === 'REPORT');
    await a.until(atReport);
    await b.until(atReport);
    await a.close();
    assert.equal((await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: pipelineId } })).statusCode, 202);
    await b.until(finished);
    await assertExactlyOnce(pipelineId, b.events);
    await b.close();
  });

  test('missed live messages (stored, never delivered) are read back: on the next event, and after the subscriber reconnects', async () => {
    const pipelineId = uniqueId('gaps');
    const ev = (seq: number): PipelineEvent => ({ type: 'vote_cast', pipeline_id: pipelineId, seq, ts: new Date().toISOString(), data: { n: seq } });
    const storeOnly = (seq: number) => h.redis.zadd(boardKeys(pipelineId).events, seq, JSON.stringify(ev(seq)));
    try {
      await publishEvents(h.redis, pipelineId, [ev(1), ev(2), ev(3)]);
      const c = await WsClient.open(address, `?pipeline_id=${pipelineId}`);
      await c.until((events) => events.length === 3);
      // 4 and 5 are stored but their live messages are lost; 6 arrives live and reveals the gap.
      await storeOnly(4);
      await storeOnly(5);
      await publishEvents(h.redis, pipelineId, [ev(6)]);
      await c.until((events) => events.length === 6);
      // 7 is lost and nothing follows it: the subscriber's reconnect triggers the read.
      await storeOnly(7);
      const line = String(await h.redis.client('LIST'))
        .split('\n')
        .find((l) => l.includes(`name=${app.eventHub.connectionName}`));
      assert.ok(line, "the API's subscriber is connected");
      await h.redis.client('KILL', 'ID', /\bid=(\d+)/.exec(line)![1]!);
      await c.until((events) => events.length === 7);
      await publishEvents(h.redis, pipelineId, [ev(8)]);
      await c.until((events) => events.length === 8);
      assert.deepEqual(seqs(c.events), [1, 2, 3, 4, 5, 6, 7, 8]);
      await c.close();
    } finally {
      await h.redis.del(boardKeys(pipelineId).events);
    }
  });

  test("without pipeline_id: every pipeline's live events, each pipeline in order", async () => {
    const all = await WsClient.open(address, '');
    const ids = [await spawn({ auto_continue: true }), await spawn({ auto_continue: true })];
    for (const id of ids) await all.until((events) => events.some((e) => e.pipeline_id === id && e.type === 'pipeline_finished'));
    for (const id of ids) {
      const mine = all.events.filter((e) => e.pipeline_id === id);
      assert.deepEqual(seqs(mine), seqs(await eventsSince(h.redis, id, 0)), `all of ${id}'s events, in order`);
    }
    await all.close();
  });

  test('refusals: unknown pipeline 404, since without pipeline_id 400', async () => {
    await assert.rejects(WsClient.open(address, `?pipeline_id=${uniqueId('nobody')}`), (err: { statusCode?: number }) => err.statusCode === 404);
    await assert.rejects(WsClient.open(address, '?since=4'), (err: { statusCode?: number }) => err.statusCode === 400);
    await assert.rejects(WsClient.open(address, '?pipeline_id=x&extra=1'), (err: { statusCode?: number }) => err.statusCode === 400);
  });
});

describe('/ws: a slow client', () => {
  const big = (pipelineId: string, seq: number): PipelineEvent => ({
    type: 'agent_message',
    pipeline_id: pipelineId,
    seq,
    ts: new Date().toISOString(),
    data: { pipeline_id: pipelineId, from: 'alpha', to: 'beta', content: 'x'.repeat(50_000) },
  });
  const cleanup: string[] = [];
  after(async () => {
    for (const id of cleanup) await h.redis.del(boardKeys(id).events);
  });

  test('is closed once too far behind, and does not hold up another client', async () => {
    const small = await startApi(h, { ws: { maxBufferedBytes: 64 * 1024 } });
    const smallAddress = await listen(small);
    try {
      // A pipeline with ~15 MB of stored events (more than the kernel's socket buffers hold).
      const slowId = uniqueId('slow');
      const fastId = uniqueId('fast');
      cleanup.push(slowId, fastId);
      for (let seq = 1; seq <= 300; seq += 50)
        await publishEvents(
          h.redis,
          slowId,
          Array.from({ length: 50 }, (_, i) => big(slowId, seq + i)),
        );
      await publishEvents(
        h.redis,
        fastId,
        [1, 2, 3].map((seq) => ({ ...big(fastId, seq), data: { n: seq } })),
      );

      // The slow client upgrades, then never reads a byte.
      const slow = connect({ host: '127.0.0.1', port: Number(smallAddress.split(':')[1]) });
      await new Promise((resolve) => slow.once('connect', resolve));
      slow.write(
        `GET /ws?pipeline_id=${slowId} HTTP/1.1\r\nHost: ${smallAddress}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
      slow.pause();

      const fast = await WsClient.open(smallAddress, `?pipeline_id=${fastId}`);
      await fast.until((events) => events.length === 3, 10_000);
      assert.deepEqual(seqs(fast.events), [1, 2, 3]);

      // The server dropped the slow one (it counts why), and still answers.
      const deadline = Date.now() + 20_000;
      let metrics = '';
      while (Date.now() < deadline) {
        metrics = (await small.inject({ method: 'GET', url: '/metrics' })).body;
        if (/ws_clients_dropped_total\{reason="slow"\} 1/.test(metrics)) break;
        await sleep(100);
      }
      assert.match(metrics, /ws_clients_dropped_total\{reason="slow"\} 1/);
      assert.equal((await small.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
      await fast.close();
      slow.destroy();
    } finally {
      await small.close();
    }
  });
});

describe('PipelineEventStream', () => {
  const ev = (seq: number): PipelineEvent => ({ type: 'vote_cast', pipeline_id: 'p', seq, ts: '', data: {} });
  const make = (stored: number[], opts: { maxPending?: number; sendOk?: (n: number) => boolean } = {}) => {
    const sent: number[] = [];
    const failures: string[] = [];
    let reads = 0;
    const stream = new PipelineEventStream({
      since: 0,
      read: async (after) => {
        reads++;
        return stored.filter((s) => s > after).map(ev);
      },
      send: (e) => {
        sent.push(e.seq);
        return opts.sendOk ? opts.sendOk(sent.length) : true;
      },
      fail: (reason) => failures.push(reason),
      maxPending: opts.maxPending ?? 100,
    });
    return { stream, sent, failures, reads: () => reads, stored };
  };

  test('live events during the replay are sent once, after it, in order', async () => {
    const s = make([1, 2, 3]);
    const replay = s.stream.start();
    s.stream.onLive(ev(3));
    s.stream.onLive(ev(4));
    await replay;
    s.stream.onLive(ev(4));
    s.stream.onLive(ev(5));
    assert.deepEqual(s.sent, [1, 2, 3, 4, 5]);
  });

  test('a gap in the live feed is read back from the store', async () => {
    const s = make([1, 2]);
    await s.stream.start();
    s.stored.push(3, 4, 5);
    s.stream.onLive(ev(5)); // 3 and 4 were missed
    await sleep(10);
    assert.deepEqual(s.sent, [1, 2, 3, 4, 5]);
    assert.equal(s.reads(), 2);
  });

  test('too many waiting events, or a full send buffer, ends the stream as slow', async () => {
    const s = make([1], { maxPending: 2 });
    const replay = s.stream.start();
    for (const seq of [2, 3, 4]) s.stream.onLive(ev(seq));
    await replay;
    assert.deepEqual(s.failures, ['slow']);
    const t = make([1, 2, 3], { sendOk: (n) => n < 2 });
    await t.stream.start();
    assert.deepEqual([t.sent, t.failures], [[1, 2], ['slow']]);
  });
});
