import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { buildServer } from '../api/server';
import { createLogger } from '../lib/logger';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// The HTTP API against a real worker: every route used here answers as the contract says.

let h: Harness;
let app: Awaited<ReturnType<typeof buildServer>>;
before(async () => {
  h = await startHarness('api');
  app = await buildServer({
    temporal: h.client,
    redis: h.redis,
    ledger: h.ledger,
    config: { ...h.config, TEMPORAL_TASK_QUEUE: h.taskQueue },
    logger: createLogger('api-test', 'silent'),
  });
});
after(async () => {
  await app?.close();
  await h?.stop();
});

const json = <T = Record<string, unknown>>(r: { body: string }) => JSON.parse(r.body) as T;

describe('API', () => {
  test('spawn, follow and read a pipeline; spawn is idempotent for a pipeline_id', async () => {
    const pipelineId = uniqueId('api');
    const body = { objective: 'Design a caching strategy', pipeline_id: pipelineId, auto_continue: false, mode: 'local', scenario: 'consensus' };
    const spawned = await app.inject({ method: 'POST', url: '/api/spawn', payload: body });
    assert.equal(spawned.statusCode, 201, spawned.body);
    const first = json(spawned);
    assert.equal(first.workflow_id, `pipeline-${pipelineId}`);
    const again = await app.inject({ method: 'POST', url: '/api/spawn', payload: body });
    assert.equal(json(again).run_id, first.run_id, 'the same run, not a second pipeline');

    const handle = h.client.workflow.getHandle(`pipeline-${pipelineId}`);
    await h.waitForStatus(handle, 'REPORT');
    const status = await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}` });
    assert.equal(status.statusCode, 200);
    assert.equal(json(status).status, 'REPORT');

    const report = json<{ continuation: { can_continue: boolean } }>(await app.inject({ method: 'GET', url: `/api/checkpoint/report?pipeline_id=${pipelineId}` }));
    assert.equal(report.continuation.can_continue, true);

    const cont = await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: pipelineId, mode: 'local' } });
    assert.equal(cont.statusCode, 202, cont.body);
    const conflict = await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: pipelineId, mode: 'local' } });
    assert.equal(conflict.statusCode, 409);
    assert.match(json<{ message: string }>(conflict).message, /not waiting at REPORT/);

    assert.equal((await handle.result()).status, 'COMPLETED');
    const orch = json<{ consensus: unknown }>(await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/orchestration` }));
    assert.ok(orch.consensus);
    const checkpoints = json<{ checkpoints: unknown[] }>(await app.inject({ method: 'GET', url: `/api/pipeline/${pipelineId}/checkpoints` }));
    assert.ok(checkpoints.checkpoints.length >= 5);
    const logs = json<{ entries: { type: string }[] }>(await app.inject({ method: 'GET', url: `/api/pipeline/logs?pipeline_id=${pipelineId}` }));
    assert.equal(logs.entries.at(-1)?.type, 'pipeline_finished');
    const recover = await app.inject({ method: 'POST', url: `/api/pipeline/${pipelineId}/recover`, payload: { action: 'rerun' } });
    assert.ok([409, 404].includes(recover.statusCode) || recover.statusCode >= 400, 'recover is refused outside ORCHESTRATION_FAILED');
  });

  test('bad input is a 400 naming the problem; unknown pipelines are 404', async () => {
    const bad = await app.inject({ method: 'POST', url: '/api/spawn', payload: { objective: '' } });
    assert.equal(bad.statusCode, 400);
    const err = json<{ statusCode: number; error: string; message: string }>(bad);
    assert.deepEqual(Object.keys(err).sort(), ['error', 'message', 'statusCode']);
    assert.match(err.message, /objective/);
    assert.equal((await app.inject({ method: 'POST', url: '/api/spawn', payload: { objective: 'x', mode: 'quantum' } })).statusCode, 400);
    assert.equal((await app.inject({ method: 'POST', url: '/api/spawn', headers: { 'content-type': 'application/json' }, payload: '{"objective":' })).statusCode, 400);
    const missing = await app.inject({ method: 'GET', url: '/api/pipeline/does-not-exist' });
    assert.equal(missing.statusCode, 404);
    assert.equal(json<{ message: string }>(missing).message, 'unknown pipeline');
    assert.equal((await app.inject({ method: 'POST', url: '/api/pipeline/does-not-exist/stop', payload: {} })).statusCode, 404);
  });

  test('healthz reports Temporal, Redis and the ledger', async () => {
    const r = await app.inject({ method: 'GET', url: '/healthz' });
    assert.equal(r.statusCode, 200);
    assert.deepEqual(json(r), { status: 'ok', checks: { temporal: 'ok', redis: 'ok', ledger: 'ok' } });
  });
});
