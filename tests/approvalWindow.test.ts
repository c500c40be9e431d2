import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { continueUpdate, statusQuery } from '../common/messages';
import { startApi, type Api } from './helpers/api';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// The approval window (issue #15, item 7): a pipeline waiting at REPORT for `continue` does not wait
// forever; after its window (input approvalWindowSeconds, else APPROVAL_WINDOW_SECONDS) it closes
// with status TIMEOUT, a reason that says why, an event and one result row.

let h: Harness;
let app: Api;
before(async () => {
  h = await startHarness('approval', { env: { APPROVAL_WINDOW_SECONDS: '2' } });
  app = await startApi(h);
});
after(async () => {
  await app?.close();
  await h?.stop();
});

describe('approval window', () => {
  test('nobody continues within the window (the worker default): the pipeline closes TIMEOUT, with an event and one result row', async () => {
    const started = Date.now();
    const handle = await h.start({ autoContinue: false });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    const result = await handle.result();
    assert.equal(result.status, 'TIMEOUT');
    assert.match(result.reason ?? '', /no continue within the 2s approval window/);
    assert.ok(Date.now() - started >= 2000, 'it waited out the window');
    const events = await h.events(pipelineId);
    const finished = events.find((e) => e.type === 'pipeline_finished');
    assert.equal(finished?.data.status, 'TIMEOUT');
    assert.match(String(finished?.data.reason), /approval window/);
    assert.ok(events.some((e) => e.type === 'agent_message' && /approval window passed/.test(String(e.data.content))));
    assert.equal(events.filter((e) => e.type === 'orchestration_started').length, 0, 'it never orchestrated');
    const timer = ((await handle.fetchHistory()).events ?? []).find((e) => e.timerStartedEventAttributes);
    assert.ok(timer, 'the window is a durable timer');
    // The ledger catches up a moment after the workflow ends.
    for (let i = 0; i < 50 && h.ledger.results(pipelineId).length === 0; i++) await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(
      h.ledger.results(pipelineId).map((r) => r.status),
      ['TIMEOUT'],
    );
    await h.recordHistory('approval-window-timeout', handle);
  });

  test("the input's approvalWindowSeconds wins over the default, and continue within it goes on as before", async () => {
    const handle = await h.start({ autoContinue: false, approvalWindowSeconds: 60 });
    await h.waitForStatus(handle, 'REPORT');
    await new Promise((r) => setTimeout(r, 2500)); // past the worker's 2 s default
    await handle.executeUpdate(continueUpdate, { args: [{}] });
    assert.equal((await handle.result()).status, 'COMPLETED');
    await h.recordHistory('approval-window-continue', handle);
  });

  test('POST /api/spawn sets the approval window and the cost budget; wrong values are a 400', async () => {
    const pipelineId = uniqueId('approval-api');
    const spawned = await app.inject({
      method: 'POST',
      url: '/api/spawn',
      payload: { objective: 'Design a caching strategy', pipeline_id: pipelineId, auto_continue: false, approval_window: 1, cost_budget_usd: 0.25 },
    });
    assert.equal(spawned.statusCode, 201, spawned.body);
    const handle = h.client.workflow.getHandle(spawned.json<{ workflow_id: string }>().workflow_id);
    assert.equal((await handle.query(statusQuery)).cost.budgetUsd, 0.25, 'the budget the request named');
    const result = await handle.result();
    assert.equal(result.status, 'TIMEOUT');
    assert.match(result.reason ?? '', /1s approval window/, "the request's window, not the worker's 2 s");

    for (const bad of [{ approval_window: 0 }, { approval_window: '60' }, { cost_budget_usd: '5' }, { cost_budget_usd: -1 }]) {
      const r = await app.inject({ method: 'POST', url: '/api/spawn', payload: { objective: 'x', ...bad } });
      assert.equal(r.statusCode, 400, `${JSON.stringify(bad)}: ${r.body}`);
      assert.match(r.json<{ message: string }>().message, new RegExp(Object.keys(bad)[0]!));
    }
  });
});
