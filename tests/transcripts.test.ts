import type { temporal } from '@temporalio/proto';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { createMirrorActivities } from '../activities/mirror';
import { breakerKeys, breakerName } from '../lib/breaker';
import { ConfigError, parseConfig } from '../lib/config';
import { Ledger } from '../lib/ledger';
import { stashTranscript, transcriptKeys, type TranscriptRecord } from '../lib/transcripts';
import { startApi, type Api } from './helpers/api';
import { sampleDesign } from './helpers/proposals';
import { startHarness, type Harness } from './helpers/harness';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';

// Issue 14, part 5: every provider call's transcript (messages as sent, raw answer), retries and
// repairs included, reaches the ledger through Redis and the ledger writer, never through a workflow
// history; the API serves it in order. The real `openai` client against the fake server, on the real
// dev server.

/** Not key-shaped on purpose: only the exact-secret scrubbing can hide it, not the key-like pattern. */
const KEY = 'TRANSCRIPT-fake-credential-9c1d2e3f4a5b';
const KEY_TAIL = '9c1d2e3f4a5b';
/** Text only a raw answer holds: an invalid answer (repaired) and a valid one with a field the parser drops. */
const INVALID_MARK = 'RAWONLY-invalid-research-answer';
const EXTRA_MARK = 'RAWONLY-dropped-field-of-a-valid-answer';

interface TranscriptCall {
  key: string;
  agent_id: string;
  role: string;
  task: string;
  round: number;
  try: number;
  model: string;
  usage: { total_tokens: number; cost_usd: number | null } | null;
  outcome: string;
  error: string | null;
  started_at: string;
  exchanges: {
    messages: { role: string; content: string }[];
    params: Record<string, unknown>;
    answer: string | null;
    error: string | null;
    rejected: string | null;
  }[];
}
interface TranscriptPage {
  total: number;
  next_offset: number | null;
  calls: TranscriptCall[];
}

/** Every string of a history, with each payload's bytes decoded: what a reader of the history could see. */
function historyText(history: temporal.api.history.v1.IHistory): string {
  const out: string[] = [];
  const walk = (v: unknown): void => {
    if (typeof v === 'string') out.push(v);
    else if (v instanceof Uint8Array) out.push(Buffer.from(v).toString('utf8'));
    else if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') Object.values(v).forEach(walk);
  };
  walk(history);
  return out.join('\n');
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let fake: FakeLlm;
let h: Harness;
let app: Api;
before(async () => {
  fake = await startFakeLlm({ apiKey: KEY });
  h = await startHarness('transcripts', { env: { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' } });
  await h.redis.del(...breakerKeys(breakerName(fake.url)));
  app = await startApi(h);
});
after(async () => {
  await app?.close();
  await h?.stop();
  await fake?.close();
});

describe('LLM transcripts', () => {
  test('the ledger holds every call with its messages and raw answer, scrubbed, served in order; no history holds them', async () => {
    fake.addFault(
      // Research's first answer is not JSON (and echoes the key): the provider's one repair request follows.
      { kind: 'content', match: 'Task: research', content: `Not JSON. ${INVALID_MARK} ${KEY}` },
      // Synthesis fails once with an error that echoes the key: the workflow tries again.
      { kind: 'status', status: 500, match: 'Task: synthesis', message: `upstream trouble for ${KEY}` },
      // A valid proposal whose raw text carries a field the parser drops.
      {
        kind: 'content',
        match: 'Task: propose',
        content: JSON.stringify(
          {
            proposal: { title: 'Tiered cache', summary: 'Hot keys in memory', design: sampleDesign('an LRU in front of Redis'), complexity: 0.4 },
            note: EXTRA_MARK,
          },
          null,
          2,
        ),
      },
    );
    const handle = await h.start({ mode: 'openrouter', model: 'openai/gpt-4o-mini', maxRounds: 2 });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();
    assert.ok(['COMPLETED', 'ORCHESTRATION_FAILED', 'TIMEOUT'].includes(result.status), result.status);
    assert.equal(fake.pendingFaults().length, 0, 'every fault was used');

    const sent = fake.completions();
    const exchangesIn = (calls: TranscriptCall[]) => calls.reduce((n, c) => n + c.exchanges.length, 0);
    const page = async (offset: number, limit: number): Promise<TranscriptPage> => {
      const r = await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/transcript?offset=${offset}&limit=${limit}` });
      assert.equal(r.statusCode, 200, r.body);
      return JSON.parse(r.body) as TranscriptPage;
    };
    // The last mirror follows the last call, so the ledger has them all when the pipeline ends; allow a moment anyway.
    await until('the ledger holds every exchange', async () => exchangesIn((await page(0, 100)).calls) === sent.length);
    assert.equal(await h.redis.exists(transcriptKeys.calls(pipelineId)), 0, 'the ledger writer emptied the Redis stash');
    assert.equal(await h.redis.sismember(transcriptKeys.pending(h.taskQueue), pipelineId), 0);

    // Bounded: at most 100 calls a page; an unknown pipeline is a 404.
    assert.equal((await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/transcript?limit=101` })).statusCode, 400);
    assert.equal((await app.inject({ method: 'GET', url: `/api/pipeline/no-such-pipeline-${Date.now()}/transcript` })).statusCode, 404);

    // Paged, in the order the calls started, and every exchange as the fake server saw it.
    const all: TranscriptCall[] = [];
    for (let offset: number | null = 0; offset !== null;) {
      const p: TranscriptPage = await page(offset, 3);
      assert.ok(p.calls.length <= 3);
      all.push(...p.calls);
      offset = p.next_offset;
    }
    assert.equal(all.length, (await page(0, 100)).total);
    assert.deepEqual(
      all.map((c) => c.started_at),
      [...all.map((c) => c.started_at)].sort(),
      'calls in the order they started',
    );
    const exchanges = all.flatMap((c) => c.exchanges);
    // As sent, but for the key, which the repair request echoes back from the bad answer.
    const sentMessages = sent.map((r) =>
      JSON.stringify((r.body as { messages: unknown }).messages)
        .split(KEY)
        .join('[redacted]'),
    );
    assert.equal(exchanges.length, sent.length);
    assert.ok(
      exchanges.every((e) => sentMessages.includes(JSON.stringify(e.messages))),
      'each exchange holds the messages as sent',
    );
    // A retry sends the same messages again: match each answered request on its messages and answer.
    const scrubbed = (text: string) => text.split(KEY).join('[redacted]');
    for (const s of sent.filter((r) => r.status === 200)) {
      const content = (s.response as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
      const messages = scrubbed(JSON.stringify((s.body as { messages: unknown }).messages));
      assert.ok(
        exchanges.some((e) => JSON.stringify(e.messages) === messages && e.answer === scrubbed(content)),
        'each answered request is transcribed with its raw answer, the key scrubbed',
      );
    }
    assert.ok(
      all.every((c) => c.model === 'openai/gpt-4o-mini' && c.agent_id.startsWith(handle.workflowId) && c.role && c.task),
      'each call names its model, agent, role and task',
    );
    assert.ok(
      all.filter((c) => c.outcome === 'ok').every((c) => (c.usage?.total_tokens ?? 0) > 0 && (c.usage?.cost_usd ?? 0) > 0),
      'usage and cost of answered calls',
    );

    // The repaired call: one transcript, both exchanges; the first rejected, the second sent with it.
    const research = all.find((c) => c.task === 'research')!;
    assert.equal(research.outcome, 'ok');
    assert.equal(research.exchanges.length, 2);
    assert.match(research.exchanges[0]!.answer ?? '', new RegExp(INVALID_MARK));
    assert.match(research.exchanges[0]!.rejected ?? '', /not JSON/);
    assert.equal(research.exchanges[0]!.params.stream, true, 'the request as sent: streamed');
    assert.ok(
      research.exchanges[1]!.messages.some((m) => m.role === 'assistant' && m.content.includes(INVALID_MARK)),
      'the repair request carries the bad answer',
    );

    // The failed call is transcribed, and its retry after it.
    const synthesis = all.filter((c) => c.task === 'synthesis');
    assert.deepEqual(
      synthesis.map((c) => [c.try, c.outcome]),
      [
        [1, 'server'],
        [2, 'ok'],
      ],
    );
    assert.match(synthesis[0]!.error ?? '', /500/);
    assert.equal(synthesis[0]!.exchanges[0]!.answer, null);

    // The key appears nowhere: not in the API's answer, not in the ledger's files.
    const everything = JSON.stringify(all);
    assert.ok(!everything.includes(KEY_TAIL), 'the key is scrubbed from the transcript');
    assert.ok(everything.includes('[redacted]'), 'where the provider echoed it, it was redacted');
    for (const file of [h.ledger.path, `${h.ledger.path}-wal`].filter((f) => existsSync(f))) {
      assert.ok(!readFileSync(file, 'latin1').includes(KEY_TAIL), `the key is not in ${file}`);
    }
    assert.ok(readFileSync(h.ledger.path, 'latin1').includes(EXTRA_MARK) || readFileSync(`${h.ledger.path}-wal`, 'latin1').includes(EXTRA_MARK));

    // No history holds the raw answers: the pipeline's, and every agent's. They hold the calls' keys.
    const children = new Set(all.map((c) => c.agent_id));
    const texts = await Promise.all([handle.workflowId, ...children].map(async (id) => historyText(await h.client.workflow.getHandle(id).fetchHistory())));
    const histories = texts.join('\n');
    assert.ok(histories.includes('Tiered cache'), 'the decoded histories carry the parsed answers (so the search below sees payloads)');
    for (const mark of [INVALID_MARK, EXTRA_MARK, KEY_TAIL]) assert.ok(!histories.includes(mark), `no history contains ${mark}`);
    assert.ok(
      all.filter((c) => c.outcome === 'ok').every((c) => histories.includes(c.key)),
      "each answered call's transcript key is in its agent's history",
    );
  });

  test('the ledger writer prunes transcripts past TRANSCRIPT_RETENTION_DAYS, and sweeps stashes no pipeline batch collects', async () => {
    assert.equal(parseConfig({}).TRANSCRIPT_RETENTION_DAYS, 30);
    assert.throws(
      () => parseConfig({ TRANSCRIPT_RETENTION_DAYS: 'forever' }),
      (e: unknown) => e instanceof ConfigError && e.variable === 'TRANSCRIPT_RETENTION_DAYS' && /whole number of days/.test(e.message),
    );
    assert.throws(() => parseConfig({ TRANSCRIPT_RETENTION_DAYS: '0' }), /TRANSCRIPT_RETENTION_DAYS: at least 1 day/);

    const ledger = new Ledger(':memory:');
    try {
      const day = 86_400_000;
      const record = (pipelineId: string, key: string, endedAgoMs: number): TranscriptRecord => {
        const at = new Date(Date.now() - endedAgoMs).toISOString();
        return {
          key,
          pipelineId,
          agentId: `pipeline-${pipelineId}-run-alpha`,
          agentRunId: 'run',
          role: 'alpha',
          task: 'research',
          round: 0,
          try: 1,
          attempt: 1,
          repair: null,
          model: 'm',
          usage: null,
          outcome: 'ok',
          error: null,
          exchanges: [{ request: { model: 'm', messages: [] }, answer: 'a', startedAt: at, ms: 1 }],
          startedAt: at,
          endedAt: at,
        };
      };
      const old = `prune-${Date.now()}`;
      ledger.recordTranscripts([record(old, 'old', 10 * day), record(old, 'recent', day / 2)]);
      assert.equal(ledger.recordTranscripts([record(old, 'old', 10 * day)]), 0, 'a repeated copy is a no-op');
      // An orphan: a call that finished after its pipeline's last batch.
      const orphan = `orphan-${Date.now()}`;
      const queue = `${h.taskQueue}-sweep`;
      await stashTranscript(h.redis, queue, record(orphan, 'late', 0));
      // Another deployment's stash on the same Redis: not this ledger's to collect.
      const foreign = `foreign-${Date.now()}`;
      await stashTranscript(h.redis, `${queue}-elsewhere`, record(foreign, 'theirs', 0));

      const { mirror } = createMirrorActivities(ledger, h.redis, { taskQueue: queue, transcriptRetentionDays: 7 });
      assert.deepEqual(
        ledger.transcript(old, 0, 10, 1 << 20).calls.map((c) => c.key),
        ['recent'],
        'pruned when the ledger writer starts',
      );
      await mirror({ pipelineId: `other-${Date.now()}`, runKey: 'r', checkpoints: [], handoffs: [], events: [], calls: [], board: [] });
      assert.deepEqual(
        ledger.transcript(orphan, 0, 10, 1 << 20).calls.map((c) => c.key),
        ['late'],
        "another pipeline's batch swept it in",
      );
      assert.equal(await h.redis.exists(transcriptKeys.calls(orphan)), 0);
      assert.equal(await h.redis.sismember(transcriptKeys.pending(queue), orphan), 0);
      assert.equal(ledger.transcript(foreign, 0, 10, 1 << 20).total, 0, "another queue's stash stays where it is");
      assert.equal(await h.redis.hlen(transcriptKeys.calls(foreign)), 1);
      await h.redis.del(transcriptKeys.calls(foreign), transcriptKeys.pending(`${queue}-elsewhere`));
    } finally {
      ledger.close();
    }
  });
});
