import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { breakerKeys, breakerName } from '../lib/breaker';
import type { PartialMessage } from '../lib/partials';
import { listen, startApi, WsClient, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';

// Issue 14, part 7: provider calls stream, and the answer reaches /ws watchers as it is produced, as
// `llm_partial` messages: live only (Redis pub/sub), never in the event log, the ledger or a history.
// The real `openai` client streams from the fake server, which streams the research answer slowly.

const KEY = 'LIVE-fake-credential-5e6f7a8b9c0d';

let fake: FakeLlm;
let h: Harness;
let app: Api;
let address: string;
before(async () => {
  fake = await startFakeLlm({ apiKey: KEY });
  h = await startHarness('live', { env: { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' } });
  await h.redis.del(...breakerKeys(breakerName(fake.url)));
  app = await startApi(h);
  address = await listen(app);
});
after(async () => {
  await app?.close();
  await h?.stop();
  await fake?.close();
});

/** A /ws watcher that notes when each live-output message arrived. */
async function watcher(pipelineId: string): Promise<{ ws: WsClient; partials: (PartialMessage & { at: number })[] }> {
  const ws = await WsClient.open(address, `?pipeline_id=${encodeURIComponent(pipelineId)}`);
  const partials: (PartialMessage & { at: number })[] = [];
  ws.ws.on('message', (data) => {
    const m = JSON.parse(String(data)) as PartialMessage;
    if (m.type === 'llm_partial') partials.push({ ...m, at: Date.now() });
  });
  return { ws, partials };
}

describe('live output', () => {
  test('streamed answers reach a /ws watcher before the call completes; one that joins mid-call gets the rest', async () => {
    const research = 'The research answer, streamed slowly: '.padEnd(400, 'x');
    const content = JSON.stringify({ summary: research });
    fake.addFault({ kind: 'slow_stream', match: 'Task: research', chunkMs: 150, chunks: 20, content });
    const handle = await h.start({ mode: 'openrouter', model: 'openai/gpt-4o-mini', maxRounds: 2 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const early = await watcher(pipelineId);
    const quiet = await WsClient.open(address, `?pipeline_id=${encodeURIComponent(pipelineId)}&partials=false`);
    const ofResearch = <T extends PartialMessage>(list: T[]): T[] => list.filter((m) => m.task === 'research');
    await early.ws.until(() => ofResearch(early.partials).some((m) => m.text.length > 0), 30_000);
    const late = await watcher(pipelineId);
    const result = await handle.result();
    assert.ok(['COMPLETED', 'ORCHESTRATION_FAILED', 'TIMEOUT'].includes(result.status), result.status);
    await early.ws.until(() => ofResearch(early.partials).some((m) => m.done));
    await late.ws.until(() => ofResearch(late.partials).some((m) => m.done));

    const request = fake.completions().find((r) => r.fault === 'slow_stream')!;
    assert.ok(request.streamed, 'the client asked for a stream');
    assert.deepEqual((request.body as { stream_options?: unknown }).stream_options, { include_usage: true });
    const early1 = ofResearch(early.partials);
    const first = early1.find((m) => m.text.length > 0)!;
    assert.ok(first.at < request.finishedAt!, `partial output arrived ${request.finishedAt! - first.at} ms before the answer was complete`);
    assert.ok(early1.filter((m) => m.text).length >= 3, 'in several pieces');
    assert.equal(early1.map((m) => m.text).join(''), content, 'the pieces add up to the answer');
    assert.deepEqual(
      early1.filter((m) => m.done).map((m) => [m.outcome, m.exchange]),
      [['ok', 1]],
      'one end, of the request that streamed',
    );
    assert.ok(early1.every((m) => m.role === 'alpha' && m.agent_id.startsWith(handle.workflowId) && m.call));

    // Joined mid-call: the rest of the stream, from where it joined.
    const late1 = ofResearch(late.partials).filter((m) => m.text);
    assert.ok(late1.length > 0, 'the late watcher saw output');
    assert.ok(late1[0]!.offset > 0, 'it joined mid-call');
    assert.equal(late1.map((m) => m.text).join(''), content.slice(late1[0]!.offset));

    // Every streamed call was seen, and partial output is nowhere in the record.
    assert.ok(new Set(early.partials.map((m) => m.call)).size >= 4, 'the other calls streamed too');
    const stored = await h.events(pipelineId);
    assert.ok(!stored.some((e) => (e.type as string) === 'llm_partial'), 'not in the event log');
    assert.ok(!h.ledger.audit(pipelineId, 1000).some((e) => e.type === 'llm_partial'), 'not in the ledger');
    assert.ok(
      early.ws.events.filter((e) => e.seq !== undefined).every((e, i, all) => i === 0 || e.seq === all[i - 1]!.seq + 1),
      'events keep their seqs',
    );
    await quiet.until((events) => events.some((e) => e.type === 'pipeline_finished'));
    assert.ok(
      quiet.events.every((e) => (e.type as string) !== 'llm_partial'),
      'partials=false: events only',
    );
    await early.ws.close();
    await late.ws.close();
    await quiet.close();
  });
});
