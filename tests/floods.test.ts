import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineWorkflowId } from '../common/ids';
import { SIGNAL_LIMITS } from '../common/limits';
import { orchestrationQuery, spawnGammaSignal, stopSignal } from '../common/messages';
import { json, startApiHarness, type Api } from './helpers/api';
import { uniqueId, type Harness } from './helpers/harness';

// Signal floods (issue #15, item 3): the API refuses a repeated gamma or stop with 409 without writing
// anything into the pipeline's history, and signals sent straight through Temporal (the CLI) are
// recorded in a capped list and otherwise ignored.

let h: Harness;
let app: Api;
before(async () => ({ h, app } = await startApiHarness('floods')));
after(async () => {
  await app?.close();
  await h?.stop();
});

const historyLength = async (workflowId: string) => ((await h.client.workflow.getHandle(workflowId).fetchHistory()).events ?? []).length;
const post = (url: string, payload: Record<string, unknown> = {}) => app.inject({ method: 'POST', url, payload });

describe('signal floods', () => {
  test('a repeated POST /gamma is a 409 and leaves the history as it was', async () => {
    const pipelineId = uniqueId('flood-gamma');
    const spawned = await post('/api/spawn', { objective: 'Design a caching strategy', mode: 'local', pipeline_id: pipelineId, auto_continue: false });
    assert.equal(spawned.statusCode, 201, spawned.body);
    const handle = h.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
    await h.waitForStatus(handle, 'REPORT');

    const first = await post(`/api/pipeline/${pipelineId}/gamma`);
    assert.equal(first.statusCode, 202, first.body);
    await h.waitForQuiet(handle);
    const before = await historyLength(handle.workflowId);
    const codes = new Map<number, number>();
    for (let i = 0; i < 60; i++) {
      const r = await post(`/api/pipeline/${pipelineId}/gamma`, i % 2 ? { reason: 'STUCK' } : {});
      codes.set(r.statusCode, (codes.get(r.statusCode) ?? 0) + 1);
      if (i === 0) assert.match(json<{ message: string }>(r).message, /already requested/);
    }
    assert.deepEqual([...codes], [[409, 60]], 'every repeat is refused');
    const history = (await handle.fetchHistory()).events ?? [];
    assert.equal(history.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length, 1, 'only the accepted request is in the history');
    assert.equal(history.filter((e) => e.workflowExecutionSignaledEventAttributes).length, 0, 'no signal was sent');
    // Nothing per request (a timer of the pipeline's own could still fire: a few events at most).
    assert.ok(history.length - before < 10, `the history grew by ${history.length - before} events over 60 refused requests`);
    const orch = await handle.query(orchestrationQuery);
    assert.equal(orch.gamma.requests.length, 1, 'only the accepted request is listed');

    // Stop: the first is accepted, a repeat while it is under way or after the end is a 409.
    const stop = await post(`/api/pipeline/${pipelineId}/stop`, { reason: 'enough' });
    assert.equal(stop.statusCode, 202, stop.body);
    // While it winds down and after it has finished (the race between the two included): 409 each time.
    for (let i = 0; i < 5; i++) {
      const again = await Promise.all(Array.from({ length: 4 }, () => post(`/api/pipeline/${pipelineId}/stop`)));
      for (const r of again) {
        assert.equal(r.statusCode, 409, r.body);
        assert.match(json<{ message: string }>(r).message, /already stopping|finished/);
      }
    }
    const result = await handle.result();
    assert.equal(result.status, 'STOPPED');
    assert.equal(result.reason, 'enough');
    assert.equal((await post(`/api/pipeline/${pipelineId}/gamma`)).statusCode, 409, 'a finished pipeline');
    await h.recordHistory('gamma-and-stop-updates', handle);
  });

  test('spawnGamma and stop signals sent with a Temporal client: recorded in a capped list, ignored, nothing breaks', async () => {
    const handle = await h.start({ autoContinue: false });
    await h.waitForStatus(handle, 'REPORT');
    await handle.signal(spawnGammaSignal, { reason: 'MANUAL', detail: 'x'.repeat(10_000) });
    // Malformed payloads too: a handler that threw would fail the workflow task again and again.
    const junk: unknown[] = [null, 42, 'STUCK', { reason: 'NOPE' }, { reason: { $gt: 1 } }, [1, 2]];
    for (const j of junk) await h.client.workflow.getHandle(handle.workflowId).signal('spawnGamma', j);
    for (let i = 0; i < 40; i++) await handle.signal(spawnGammaSignal, { reason: 'CONFLICT' });
    await h.client.workflow.getHandle(handle.workflowId).signal('stop', { reason: { not: 'text' } });
    await handle.signal(stopSignal, { reason: 'a second stop changes nothing' });

    const result = await handle.result();
    assert.equal(result.status, 'STOPPED');
    assert.equal(result.reason, 'stop requested', 'a reason that is not text is not kept; the first stop decides');
    const orch = await handle.query(orchestrationQuery);
    assert.equal(orch.gamma.requests.length, SIGNAL_LIMITS.gammaRequests, 'the list keeps the latest requests only');
    assert.ok(orch.gamma.requests.every((r) => !r.accepted) || orch.gamma.requests.filter((r) => r.accepted).length <= 1);
    assert.ok(orch.gamma.requests.every((r) => (r.detail?.length ?? 0) <= SIGNAL_LIMITS.detailChars));
    const history = (await handle.fetchHistory()).events ?? [];
    assert.ok(!history.some((e) => e.workflowTaskFailedEventAttributes), 'no workflow task failed on a malformed signal');
    await h.recordHistory('signal-flood', handle);
  });
});
