import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId, pipelineWorkflowId } from '../common/ids';
import type { StatusView } from '../common/types';
import { json, startApiHarness, type Api } from './helpers/api';
import { uniqueId, type Harness } from './helpers/harness';

// The HTTP API against a real worker: every endpoint's success, and the 404s and 409s that only a real
// pipeline can produce. (400, 413, 426, 429 and 503: api-errors.test.ts; 401: api-auth.test.ts.)

let h: Harness;
let app: Api;
before(async () => ({ h, app } = await startApiHarness('api')));
after(async () => {
  await app?.close();
  await h?.stop();
});

type Err = { statusCode: number; error: string; message: string };
const spawn = (body: Record<string, unknown>) =>
  app.inject({ method: 'POST', url: '/api/spawn', payload: { objective: 'Design a caching strategy', mode: 'local', ...body } });
const errorShape = (r: { body: string }) => assert.deepEqual(Object.keys(json(r)).sort(), ['error', 'message', 'statusCode']);

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('API', () => {
  test('a manual pipeline through every endpoint: spawn, list, status, report, gamma, continue, orchestration, ledger', async () => {
    const pipelineId = uniqueId('api');
    const spawned = await spawn({ pipeline_id: pipelineId, auto_continue: false, scenario: 'consensus' });
    assert.equal(spawned.statusCode, 201, spawned.body);
    const first = json<{ pipeline_id: string; workflow_id: string; run_id: string; status: string }>(spawned);
    assert.deepEqual(
      { ...first, run_id: typeof first.run_id },
      { pipeline_id: pipelineId, workflow_id: pipelineWorkflowId(pipelineId), run_id: 'string', status: 'SPAWNING' },
    );
    const again = await spawn({ pipeline_id: pipelineId, auto_continue: false, scenario: 'consensus' });
    assert.equal(again.statusCode, 201);
    assert.equal(json(again).run_id, first.run_id, 'the same run, not a second pipeline');

    const handle = h.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
    await h.waitForStatus(handle, 'REPORT');

    // The list comes from visibility, which may lag a moment behind the workflow.
    const listed = await until('the pipeline in the REPORT list', async () => {
      const r = await app.inject({ method: 'GET', url: '/api/pipelines?status=REPORT&limit=500' });
      assert.equal(r.statusCode, 200, r.body);
      return json<{ pipelines: { pipeline_id: string; status: string; phase: string; execution_status: string }[] }>(r).pipelines.find(
        (p) => p.pipeline_id === pipelineId,
      );
    });
    assert.deepEqual([listed.status, listed.phase, listed.execution_status], ['REPORT', 'REPORT', 'RUNNING']);
    const limited = json<{ pipelines: unknown[] }>(await app.inject({ method: 'GET', url: '/api/pipelines?limit=1' }));
    assert.equal(limited.pipelines.length, 1);

    const status = await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}` });
    assert.equal(status.statusCode, 200);
    const view = json<StatusView>(status);
    assert.equal(view.status, 'REPORT');
    assert.equal(view.phase, 'REPORT');
    assert.ok(view.agents.length >= 2 && view.agents.every((a) => typeof a.tokens === 'number' && typeof a.errors === 'number'));

    // auto_continue is read from the pipeline's settings row, which the outbox's first batch writes: under
    // load the pipeline can reach REPORT before that batch is in (the answer is null until then).
    await until('the settings in the ledger', async () => h.ledger.pipelineSettings(pipelineId) ?? undefined);
    const report = await app.inject({ method: 'GET', url: `/api/checkpoint/report?pipeline_id=${pipelineId}` });
    assert.equal(report.statusCode, 200);
    const rep = json<{ pipeline_id: string; report: { kind: string } | null; continuation: Record<string, unknown> }>(report);
    assert.equal(rep.report?.kind, 'run');
    assert.deepEqual(rep.continuation, { auto_continue: false, status: 'REPORT', can_continue: true });

    const orchBefore = json<{ status: string; proposals: unknown[] }>(await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/orchestration` }));
    assert.deepEqual([orchBefore.status, orchBefore.proposals.length], ['PENDING', 0]);

    // GAMMA asked for at REPORT joins when orchestration starts.
    const gamma = await app.inject({ method: 'POST', url: `/api/pipeline/${pipelineId}/gamma`, payload: {} });
    assert.equal(gamma.statusCode, 202, gamma.body);
    assert.deepEqual(json(gamma), { pipeline_id: pipelineId, accepted: true });

    const cont = await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: pipelineId, mode: 'local' } });
    assert.equal(cont.statusCode, 202, cont.body);
    assert.equal(json(cont).accepted, true);
    const conflict = await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: pipelineId } });
    assert.equal(conflict.statusCode, 409);
    errorShape(conflict);
    assert.match(json<Err>(conflict).message, /REPORT/);

    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    const orch = json<{ consensus: unknown; gamma: { spawned: boolean; reason: string } }>(
      await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/orchestration` }),
    );
    assert.ok(orch.consensus);
    assert.deepEqual([orch.gamma.spawned, orch.gamma.reason], [true, 'MANUAL']);
    const finalReply = await app.inject({ method: 'GET', url: `/api/checkpoint/report?pipeline_id=${pipelineId}` });
    // The answer's own words when it is not a report (one CI run saw a reply without one).
    assert.equal(finalReply.statusCode, 200, finalReply.body);
    const finalReport = json<{ report: { kind: string }; continuation: { can_continue: boolean } }>(finalReply);
    assert.equal(finalReport.report.kind, 'final');
    assert.equal(finalReport.continuation.can_continue, false);
    const markdown = await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/report.md` });
    assert.equal(markdown.statusCode, 200);
    assert.match(String(markdown.headers['content-type']), /^text\/markdown/);
    assert.match(markdown.body, /^# Design a caching strategy/);
    assert.match(markdown.body, /## Adopted design: .*\n[\s\S]*### Approach\n\nUse [\s\S]*### Rollout\n/);

    const checkpoints = await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/checkpoints` });
    assert.equal(checkpoints.statusCode, 200);
    const cps = json<{ checkpoints: { phase: string; status: string }[] }>(checkpoints).checkpoints;
    assert.deepEqual(cps.at(-1) && [cps.at(-1)!.phase, cps.at(-1)!.status], ['COMPLETE', 'COMPLETED']);
    const logs = await app.inject({ method: 'GET', url: `/api/pipeline/logs?pipeline_id=${pipelineId}` });
    assert.equal(logs.statusCode, 200);
    const entries = json<{ entries: { type: string; seq: number }[] }>(logs).entries;
    assert.equal(entries.at(-1)?.type, 'pipeline_finished');
    assert.deepEqual(
      entries.map((e) => e.seq),
      entries.map((_, i) => i + 1),
      'every event, in order',
    );
    const two = json<{ entries: { seq: number }[] }>(await app.inject({ method: 'GET', url: `/api/pipeline/logs?pipeline_id=${pipelineId}&limit=2` })).entries;
    assert.deepEqual(
      two.map((e) => e.seq),
      [entries.length - 1, entries.length],
      'the newest entries, oldest first',
    );
    const all = json<{ pipeline_id: null; entries: unknown[] }>(await app.inject({ method: 'GET', url: '/api/pipeline/logs?limit=5' }));
    assert.deepEqual([all.pipeline_id, all.entries.length], [null, 5]);

    // A finished pipeline: signals are a 409 that says so, and spawning it again is the same run.
    for (const url of [`/api/pipeline/${pipelineId}/stop`, `/api/pipeline/${pipelineId}/gamma`]) {
      const r = await app.inject({ method: 'POST', url, payload: {} });
      assert.equal(r.statusCode, 409, `${url}: ${r.body}`);
      assert.match(json<Err>(r).message, /finished/);
    }
    const recover = await app.inject({ method: 'POST', url: `/api/pipeline/${pipelineId}/recover`, payload: { action: 'rerun' } });
    assert.equal(recover.statusCode, 409, recover.body);
    errorShape(recover);
    const respawn = await spawn({ pipeline_id: pipelineId, auto_continue: false });
    assert.equal(respawn.statusCode, 201);
    assert.deepEqual([json(respawn).run_id, json(respawn).status], [first.run_id, 'COMPLETED']);
  });

  test("the report tells auto_continue from the pipeline's own settings", async () => {
    const pipelineId = uniqueId('api-auto');
    assert.equal((await spawn({ pipeline_id: pipelineId, auto_continue: true })).statusCode, 201);
    const handle = h.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
    assert.equal((await handle.result()).status, 'COMPLETED');
    const r = json<{ continuation: Record<string, unknown> }>(await app.inject({ method: 'GET', url: `/api/checkpoint/report?pipeline_id=${pipelineId}` }));
    assert.deepEqual(r.continuation, { auto_continue: true, status: 'COMPLETED', can_continue: false });
  });

  test('stop a running pipeline: 202, then it ends STOPPED', async () => {
    const pipelineId = uniqueId('api-stop');
    assert.equal((await spawn({ pipeline_id: pipelineId, auto_continue: false })).statusCode, 201);
    const handle = h.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
    await h.waitForStatus(handle, 'REPORT');
    const stop = await app.inject({ method: 'POST', url: `/api/pipeline/${pipelineId}/stop`, payload: { reason: 'enough' } });
    assert.equal(stop.statusCode, 202, stop.body);
    assert.equal((await handle.result()).status, 'STOPPED');
  });

  test('recover is refused (409) where the pipeline does not wait in ORCHESTRATION_FAILED', async () => {
    const pipelineId = uniqueId('api-norecover');
    assert.equal((await spawn({ pipeline_id: pipelineId, auto_continue: false })).statusCode, 201);
    const handle = h.client.workflow.getHandle(pipelineWorkflowId(pipelineId));
    await h.waitForStatus(handle, 'REPORT');
    const r = await app.inject({ method: 'POST', url: `/api/pipeline/${pipelineId}/recover`, payload: { action: 'accept_partial' } });
    assert.equal(r.statusCode, 409, r.body);
    errorShape(r);
    await handle.cancel();
  });

  test('recover a pipeline waiting in ORCHESTRATION_FAILED: 202, and it completes with the partial result', async () => {
    const handle = await h.start({ scenario: 'no_consensus', maxRounds: 1, autoContinue: true });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    await h.waitForStatus(handle, 'ORCHESTRATION_FAILED', 60_000);
    const report = json<{ continuation: { status: string; can_continue: boolean } }>(
      await app.inject({ method: 'GET', url: `/api/checkpoint/report?pipeline_id=${pipelineId}` }),
    );
    assert.deepEqual([report.continuation.status, report.continuation.can_continue], ['ORCHESTRATION_FAILED', false]);
    const r = await app.inject({ method: 'POST', url: `/api/pipeline/${pipelineId}/recover`, payload: { action: 'accept_partial' } });
    assert.equal(r.statusCode, 202, r.body);
    assert.equal(json(r).accepted, true);
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    assert.ok(result.partial, 'completed with the best proposal, marked partial');
    const again = await app.inject({ method: 'POST', url: `/api/pipeline/${pipelineId}/recover`, payload: { action: 'rerun' } });
    assert.equal(again.statusCode, 409, 'only once, while it waits');
  });

  test('unknown pipelines are 404 everywhere', async () => {
    const id = uniqueId('never-spawned');
    const cases: [string, string, unknown?][] = [
      ['GET', `/api/pipeline/${id}`],
      ['GET', `/api/pipeline/${id}/orchestration`],
      ['GET', `/api/checkpoint/report?pipeline_id=${id}`],
      ['POST', '/api/pipeline/continue', { pipeline_id: id }],
      ['POST', `/api/pipeline/${id}/stop`, {}],
      ['POST', `/api/pipeline/${id}/gamma`, {}],
      ['POST', `/api/pipeline/${id}/recover`, { action: 'rerun' }],
      ['GET', `/api/pipeline/logs?pipeline_id=${id}`],
      ['GET', `/api/pipeline/${id}/checkpoints`],
      ['GET', '/api/no-such-route'],
    ];
    for (const [method, url, payload] of cases) {
      const r = await app.inject({ method: method as 'GET' | 'POST', url, ...(payload ? { payload: payload as object } : {}) });
      assert.equal(r.statusCode, 404, `${method} ${url}: ${r.body}`);
      errorShape(r);
      if (!url.includes('no-such-route')) assert.equal(json<Err>(r).message, 'unknown pipeline', url);
    }
  });

  test('a pipeline that failed on its input cannot answer queries: 409', async () => {
    const handle = await h.start({ objective: '' });
    await assert.rejects(handle.result());
    const r = await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineIdFromWorkflowId(handle.workflowId)}` });
    assert.equal(r.statusCode, 409, r.body);
    errorShape(r);
  });

  test('healthz reports Temporal, Redis and the ledger', async () => {
    const r = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(json(r), { status: 'ok', checks: { temporal: 'ok', redis: 'ok', ledger: 'ok' } });
  });
});
