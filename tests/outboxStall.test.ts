import type { WorkflowHandle } from '@temporalio/client';
import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { statusQuery } from '../common/messages';
import type { OutboxStall } from '../common/types';
import { eventsSince } from '../lib/events';
import { startApi, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';

// The outbox when the ledger refuses writes (here: another connection holds it locked, as a backup
// tool or a stuck process would): the pipeline does not spin invisibly. The stall shows in the
// `status` query with its cause; once the lock is released the outbox resumes by itself, and the
// pipeline completes with one result row and every event once.

let h: Harness;
let app: Api;
before(async () => {
  h = await startHarness('outbox-stall');
  app = await startApi(h);
});
after(async () => {
  await app?.close();
  await h?.stop();
});

/** The /metrics gauge of stalled pipelines, waiting up to `ms` for it to read `want` (visibility lags a little). */
async function stalledGauge(want: number, ms = 10_000): Promise<number> {
  const deadline = Date.now() + ms;
  let value = NaN;
  do {
    const body = (await app.inject({ method: 'GET', url: '/metrics' })).body;
    value = Number(/^outbox_stalled_pipelines\{target="ledger"\} (\d+)$/m.exec(body)?.[1] ?? NaN);
    if (value === want) return value;
    await sleep(300);
  } while (Date.now() < deadline);
  return value;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs a pipeline while `fault` holds (applied before it starts, lifted by the returned function once the stall shows). */
async function stallAndResume(fault: () => () => void, error: RegExp): Promise<WorkflowHandle> {
  const lift = fault();
  let lifted = false;
  let stall: OutboxStall | null | undefined;
  const handle = await h.start({});
  const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
  try {
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && !stall) {
      stall = (await handle.query(statusQuery)).outbox;
      if (!stall) await sleep(250);
    }
    assert.ok(stall, 'the stall shows in status within a minute');
    assert.equal(stall.target, 'ledger');
    assert.match(stall.lastError, error);
    assert.ok(stall.attempts >= 3, `attempts ${stall.attempts}`);
    assert.ok(stall.pending > 0, 'events wait');
    assert.ok(Date.parse(stall.retryAt) > Date.parse(stall.since));
    assert.equal(h.ledger.results(pipelineId).length, 0, 'nothing reached the ledger');
    const shown = (await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}` })).json<{ outbox?: OutboxStall }>().outbox;
    assert.equal(shown?.target, 'ledger', 'GET /api/pipeline/:id shows it');
    assert.equal(await stalledGauge(1), 1, '/metrics counts the stalled pipeline');
    await sleep(1000);
    assert.equal((await handle.describe()).status.name, 'RUNNING', 'the pipeline waits for its record rather than finishing without it');
    lift();
    lifted = true;
  } finally {
    if (!lifted) lift();
  }

  assert.equal((await handle.result()).status, 'COMPLETED');
  assert.equal((await handle.query(statusQuery)).outbox ?? null, null, 'the stall is cleared');
  assert.equal(await stalledGauge(0), 0, 'and no longer counted');
  assert.equal(h.ledger.results(pipelineId).length, 1, 'exactly one result row');
  const audit = h.ledger.eventsSince(pipelineId, 0);
  assert.deepEqual(
    audit.map((e) => e.seq),
    audit.map((_, i) => i + 1),
    'every event in the ledger, once',
  );
  assert.deepEqual(audit, await eventsSince(h.redis, pipelineId, 0), 'and in Redis, the same');
  return handle;
}

describe('outbox stall', () => {
  test('a locked ledger shows in status.outbox and /metrics, holds the pipeline at its end, and resumes when released: one result row', async () => {
    const handle = await stallAndResume(() => {
      const lock = new Database(h.ledger.path);
      lock.exec('BEGIN EXCLUSIVE');
      return () => {
        lock.exec('COMMIT');
        lock.close();
      };
    }, /locked|busy/i);
    await h.recordHistory('outbox-stall', handle);
  });

  test('a full ledger (SQLITE_FULL) stalls the same way and resumes once there is room', async () => {
    // The writer's own connection may not grow the file: SQLite answers "database or disk is full".
    const db = h.ledger['db'];
    await stallAndResume(() => {
      const pages = Number(db.pragma('page_count', { simple: true }));
      db.pragma(`max_page_count = ${pages}`);
      return () => void db.pragma('max_page_count = 4294967294');
    }, /full/i);
  });
});
