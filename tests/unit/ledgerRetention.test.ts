import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { PipelineEvent, PipelineResult, PipelineSettings } from '../../common/types';
import { Ledger, LedgerReader, type LedgerBatch } from '../../lib/ledger';

// The ledger file on disk: the writer syncs fully, the API's reader cannot write, the audit events
// read back as the events /ws sent, and the retention command removes finished runs only.

const DAY = 86_400_000;
const iso = (msAgo: number) => new Date(Date.now() - msAgo).toISOString();
let dir: string;
let path: string;
let ledger: Ledger;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'ag-ledger-unit-'));
  path = join(dir, 'ledger.db');
  ledger = new Ledger(path);
});
after(() => ledger.close());

const event = (pipelineId: string, seq: number, ts: string): PipelineEvent =>
  ({ type: 'phase_changed', pipeline_id: pipelineId, seq, ts, data: { pipeline_id: pipelineId, phase: 'RUN' } }) as unknown as PipelineEvent;

/** A run with its pipeline row, `events` audit events, a checkpoint, a call and (when `finishedAgo` is set) a result. */
function recordRun(pipelineId: string, runKey: string, startedAgo: number, finishedAgo?: number, events = 3): void {
  const createdAt = iso(startedAgo);
  const batch: LedgerBatch = {
    pipelineId,
    runKey,
    pipeline: {
      workflowId: `${pipelineId}-pipeline`,
      settings: { pipelineId, objective: 'o', mode: 'local', model: 'm', scenario: 'happy' } as unknown as PipelineSettings,
      createdAt,
    },
    checkpoints: [{ key: '1-RUN-RUNNING', phase: 'RUN', status: 'RUNNING', data: {}, ts: createdAt }],
    handoffs: [],
    events: Array.from({ length: events }, (_, i) => event(pipelineId, i + 1, createdAt)),
    calls: [
      {
        key: 'c1',
        agentId: 'a',
        role: 'alpha',
        task: 't',
        round: 0,
        attempt: 1,
        model: 'm',
        promptTokens: 1,
        completionTokens: 1,
        totalTokens: 2,
        at: createdAt,
      },
    ],
  };
  if (finishedAgo !== undefined) batch.result = { result: { pipelineId, status: 'COMPLETED' } as PipelineResult, ts: iso(finishedAgo) };
  ledger.recordBatch(batch);
}

const count = (table: string, pipelineId: string) =>
  (ledger['db'].prepare(`SELECT count(*) AS n FROM ${table} WHERE pipeline_id = ?`).get(pipelineId) as { n: number }).n;

describe('ledger file and retention', () => {
  test('the writer runs in WAL with synchronous=FULL; the reader cannot write', () => {
    assert.equal(ledger['db'].pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(ledger['db'].pragma('synchronous', { simple: true }), 2, 'FULL');
    const reader = new LedgerReader(path);
    reader.check();
    assert.throws(() => reader['db'].prepare('DELETE FROM pipelines').run(), /readonly/i);
    reader.close();
  });

  test("eventsSince reads the latest run's audit events back as events, after a seq", () => {
    recordRun('evs', 'run-old', 2 * DAY, DAY, 5);
    recordRun('evs', 'run-new', DAY / 2, undefined, 4);
    const events = ledger.eventsSince('evs', 1);
    assert.deepEqual(
      events.map((e) => e.seq),
      [2, 3, 4],
      'the new run only, after seq 1',
    );
    assert.deepEqual(events[0], event('evs', 2, events[0]!.ts));
  });

  test('prune removes finished runs older than the cut, in every table, never a running pipeline; --dry-run counts', () => {
    recordRun('old-done', 'r1', 100 * DAY, 99 * DAY);
    recordRun('old-running', 'r1', 100 * DAY); // no result: still running (or never finished)
    recordRun('new-done', 'r1', 2 * DAY, DAY);

    const dry = ledger.prune(iso(90 * DAY), true);
    assert.deepEqual(dry.runs, [{ pipelineId: 'old-done', runKey: 'r1' }]);
    assert.deepEqual(dry.rows, { pipelines: 1, audit_events: 3, checkpoints: 1, handoffs: 0, llm_calls: 1, results: 1, llm_transcripts: 0 });
    assert.equal(count('pipelines', 'old-done'), 1, 'a dry run removes nothing');

    const done = ledger.prune(iso(90 * DAY));
    assert.deepEqual(done.rows, dry.rows);
    for (const t of ['pipelines', 'audit_events', 'checkpoints', 'llm_calls', 'results']) {
      assert.equal(count(t, 'old-done'), 0, `${t} of the old finished run removed`);
      assert.ok(count(t === 'results' ? 'pipelines' : t, 'old-running') > 0, `${t} of the running pipeline kept`);
      assert.ok(count(t, 'new-done') > 0, `${t} of the recent run kept`);
    }
    assert.equal(ledger.prune(iso(90 * DAY)).runs.length, 0, 'a second prune finds nothing');
  });

  test('`npm run ledger -- prune` prints what it removed, and refuses a bad age', () => {
    recordRun('cli-old', 'r1', 40 * DAY, 39 * DAY);
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'scripts/ledger.ts', ...args], { env: { ...process.env, LEDGER_PATH: path }, encoding: 'utf8' });
    const dry = run('prune', '--older-than', '30d', '--dry-run');
    assert.equal(dry.status, 0, dry.stderr);
    assert.match(dry.stdout, /would remove 1 finished pipeline run/);
    assert.match(dry.stdout, /cli-old/);
    assert.equal(count('results', 'cli-old'), 1);
    const real = run('prune', '--older-than', '30d');
    assert.equal(real.status, 0, real.stderr);
    assert.match(real.stdout, /removed 1 finished pipeline run/);
    assert.match(real.stdout, /audit_events\s+3/);
    assert.equal(count('results', 'cli-old'), 0);
    const bad = run('prune', '--older-than', 'ninety');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /whole number of days/);
  });
});
