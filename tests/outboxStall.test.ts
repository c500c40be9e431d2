import Database from 'better-sqlite3';
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { statusQuery } from '../common/messages';
import type { OutboxStall } from '../common/types';
import { eventsSince } from '../lib/events';
import { startHarness, type Harness } from './helpers/harness';

// The outbox when the ledger refuses writes (here: another connection holds it locked, as a backup
// tool or a stuck process would): the pipeline does not spin invisibly. The stall shows in the
// `status` query with its cause; once the lock is released the outbox resumes by itself, and the
// pipeline completes with one result row and every event once.

let h: Harness;
before(async () => {
  h = await startHarness('outbox-stall');
});
after(async () => {
  await h?.stop();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('outbox stall', () => {
  test('a locked ledger shows in status.outbox, holds the pipeline at its end, and resumes when released: one result row', async () => {
    const lock = new Database(h.ledger.path);
    lock.exec('BEGIN EXCLUSIVE');
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
      assert.match(stall.lastError, /locked|busy/i);
      assert.ok(stall.attempts >= 3, `attempts ${stall.attempts}`);
      assert.ok(stall.pending > 0, 'events wait');
      assert.ok(Date.parse(stall.retryAt) > Date.parse(stall.since));
      assert.equal(h.ledger.results(pipelineId).length, 0, 'nothing reached the ledger');
      await sleep(2000);
      assert.equal((await handle.describe()).status.name, 'RUNNING', 'the pipeline waits for its record rather than finishing without it');
    } finally {
      lock.exec('COMMIT');
      lock.close();
    }

    assert.equal((await handle.result()).status, 'COMPLETED');
    assert.equal((await handle.query(statusQuery)).outbox ?? null, null, 'the stall is cleared');
    assert.equal(h.ledger.results(pipelineId).length, 1, 'exactly one result row');
    const audit = h.ledger.eventsSince(pipelineId, 0);
    assert.deepEqual(
      audit.map((e) => e.seq),
      audit.map((_, i) => i + 1),
      'every event in the ledger, once',
    );
    assert.deepEqual(audit, await eventsSince(h.redis, pipelineId, 0), 'and in Redis, the same');
  });
});
