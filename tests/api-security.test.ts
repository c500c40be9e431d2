import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { WebSocket } from 'ws';
import { agentWorkflowId, pipelineWorkflowId } from '../common/ids';
import { parsePipelineInput } from '../common/input';
import { parseConfig } from '../lib/config';
import { exposureProblem } from '../api/auth';
import { originAllowed } from '../api/crossSite';
import { json, listen, startApi, type Api } from './helpers/api';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// Secure by default, against the real API on a real worker: no unauthenticated API on a public address,
// no answer to a foreign Host (DNS rebinding), no /ws from a foreign Origin, no coerced types, no pipeline
// id that squats another pipeline's agent, no model outside the allow-list, no more running pipelines
// than MAX_RUNNING_PIPELINES.

let h: Harness;
let app: Api;
let address: string;
before(async () => {
  h = await startHarness('api-security');
  app = await startApi(h);
  address = await listen(app);
});
after(async () => {
  await app?.close();
  await h?.stop();
});

type Err = { statusCode: number; error: string; message: string };
const spawn = (body: Record<string, unknown>, server = app) =>
  server.inject({ method: 'POST', url: '/api/spawn', payload: { objective: 'Design a caching strategy', ...body } });

describe('secure by default', () => {
  const runApi = (env: Record<string, string>, timeout = 60_000) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'api/main.ts'], {
      // A dead Temporal address: a process that got past the check keeps trying to connect instead of serving.
      env: { ...process.env, API_TOKEN: '', API_ALLOW_UNAUTHENTICATED: '', TEMPORAL_ADDRESS: '127.0.0.1:1', LOG_LEVEL: 'silent', ...env },
      encoding: 'utf8',
      timeout,
    });

  test('`npm run api` on a non-loopback address without API_TOKEN refuses to start, naming API_TOKEN and the opt-out', () => {
    const r = runApi({ API_HOST: '0.0.0.0' });
    assert.equal(r.status, 78, r.stderr);
    assert.match(r.stderr, /API_HOST=0\.0\.0\.0 is not a loopback address and API_TOKEN is not set/);
    assert.match(r.stderr, /API_ALLOW_UNAUTHENTICATED=true/);
    // The opt-out and a token both get past the check: still trying to reach Temporal when stopped.
    for (const env of [{ API_ALLOW_UNAUTHENTICATED: 'true' }, { API_TOKEN: 'a-token-of-sixteen-chars' }] as Record<string, string>[]) {
      const ok = runApi({ API_HOST: '0.0.0.0', ...env }, 6000);
      assert.equal(ok.status, null, `still running until the timeout: ${ok.stderr}`);
      assert.doesNotMatch(ok.stderr, /API_TOKEN is not set/);
    }
  });
});

test('which configurations may serve without a token', () => {
  const cfg = (env: Record<string, string>) => parseConfig(env);
  for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) assert.equal(exposureProblem(cfg({ API_HOST: host })), undefined, host);
  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'api.example', '127.0.0.1.evil.example'])
    assert.match(exposureProblem(cfg({ API_HOST: host }))!, /API_TOKEN/, host);
  assert.equal(exposureProblem(cfg({ API_HOST: '0.0.0.0', API_ALLOW_UNAUTHENTICATED: 'true' })), undefined);
  assert.throws(() => parseConfig({ API_ALLOW_UNAUTHENTICATED: 'perhaps' }), /API_ALLOW_UNAUTHENTICATED/);
  assert.deepEqual(parseConfig({ LLM_MODELS: ' a/b, c/d ,' }).LLM_MODELS, ['a/b', 'c/d']);
  assert.equal(parseConfig({}).MAX_RUNNING_PIPELINES, 50);
  assert.throws(() => parseConfig({ MAX_RUNNING_PIPELINES: '0' }), /MAX_RUNNING_PIPELINES/);
});

test("the API's own origin, by default ports too", () => {
  assert.equal(originAllowed('http://localhost', 'localhost:80', undefined), true);
  assert.equal(originAllowed('https://api.example', 'api.example:443', undefined), true);
  assert.equal(originAllowed('http://[::1]:3000', '[::1]:3000', undefined), true);
  assert.equal(originAllowed('http://localhost:3001', 'localhost:3000', undefined), false);
  assert.equal(originAllowed('http://x', 'bad host/', undefined), false);
  assert.equal(originAllowed('https://dash.example', 'api.example', ['https://dash.example/']), true);
});

describe('cross-site', () => {
  test('a foreign Host gets 421 (DNS rebinding); loopback names pass', async () => {
    for (const host of ['evil.example', 'evil.example:3000', '127.0.0.1.evil.example', 'localhost.evil.example:80']) {
      const r = await app.inject({ method: 'GET', url: '/api/pipelines', headers: { host } });
      assert.equal(r.statusCode, 421, `${host}: ${r.body}`);
      assert.equal(json<Err>(r).error, 'Misdirected Request');
    }
    for (const host of ['localhost:3000', '127.0.0.1', '[::1]:3000', 'LOCALHOST.']) {
      const r = await app.inject({ method: 'GET', url: '/api/pipelines?limit=1', headers: { host } });
      assert.equal(r.statusCode, 200, `${host}: ${r.body}`);
    }
  });

  const openWs = (headers: Record<string, string>) =>
    new Promise<number>((resolve, reject) => {
      const ws = new WebSocket(`ws://${address}/ws`, { headers });
      ws.once('open', () => {
        ws.close();
        resolve(101);
      });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.once('error', reject);
    });

  test("/ws refuses a foreign Origin with 403; the API's own origin and clients without Origin connect", async () => {
    assert.equal(await openWs({ origin: 'http://evil.example' }), 403);
    assert.equal(await openWs({ origin: 'null' }), 403);
    assert.equal(await openWs({ origin: `http://${address}` }), 101);
    assert.equal(await openWs({}), 101);
    // A page on the same machine but another port is another origin.
    assert.equal(await openWs({ origin: 'http://127.0.0.1:1' }), 403);
  });

  test('API_ALLOWED_ORIGINS and API_ALLOWED_HOSTS replace the defaults', async () => {
    const custom = await startApi(h, { config: { ...h.config, API_ALLOWED_ORIGINS: ['https://dash.example'], API_ALLOWED_HOSTS: ['api.example'] } });
    try {
      assert.equal((await custom.inject({ method: 'GET', url: '/api/pipelines?limit=1', headers: { host: 'api.example' } })).statusCode, 200);
      assert.equal((await custom.inject({ method: 'GET', url: '/api/pipelines?limit=1', headers: { host: 'localhost' } })).statusCode, 421);
      const ws = (origin: string) => custom.inject({ method: 'GET', url: '/ws', headers: { host: 'api.example', origin } });
      assert.equal((await ws('http://evil.example')).statusCode, 403);
      assert.equal((await ws('https://dash.example')).statusCode, 426, 'allowed: on to the handler, which wants an upgrade');
    } finally {
      await custom.close();
    }
  });
});

describe('strict types', () => {
  test('bodies are not coerced: {"objective": 42} and friends are 400', async () => {
    for (const body of [{ objective: 42 }, { auto_continue: 'true' }, { timeout: '60' }, { objective: ['x'] }, { latency_ms: '5', mode: 'local' }]) {
      const r = await spawn(body);
      assert.equal(r.statusCode, 400, `${JSON.stringify(body)}: ${r.body}`);
      assert.match(json<Err>(r).message, /^body\/\w+ must be/);
    }
    const r = await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: 'p', timeout: '5' } });
    assert.equal(r.statusCode, 400, r.body);
  });

  test('query strings: well-formed numbers and booleans are converted, anything else is 400', async () => {
    assert.equal((await app.inject({ method: 'GET', url: '/api/pipelines?limit=2' })).statusCode, 200);
    for (const q of ['limit=5x', 'limit=0x10', 'limit=', 'limit=%205', 'limit=1e2', 'limit=2&limit=3']) {
      const r = await app.inject({ method: 'GET', url: `/api/pipelines?${q}` });
      assert.equal(r.statusCode, 400, `${q}: ${r.body}`);
    }
    for (const q of ['since=abc', 'since=5x', 'since=-1', 'partials=yes']) {
      const r = await app.inject({ method: 'GET', url: `/ws?pipeline_id=p&${q}` });
      assert.equal(r.statusCode, 400, `${q}: ${r.body}`);
    }
    assert.equal((await app.inject({ method: 'GET', url: '/ws?pipeline_id=p&since=5&partials=false' })).statusCode, 426);
  });
});

describe('ids', () => {
  test("a pipeline_id that is another pipeline's agent id is refused, in the body and in the path", async () => {
    for (const id of ['victim-orch-alpha', 'victim-run-gamma', 'a.b-orch-beta']) {
      const r = await spawn({ pipeline_id: id });
      assert.equal(r.statusCode, 400, r.body);
      assert.match(json<Err>(r).message, /not ending in -<run\|orch>-<alpha\|beta\|gamma>/);
      assert.equal((await app.inject({ method: 'POST', url: `/api/pipeline/${id}/stop`, payload: {} })).statusCode, 400);
    }
    // Only the exact ending: these are fine ids (and unknown pipelines).
    assert.equal((await app.inject({ method: 'GET', url: '/api/pipeline/victim-orch-alphabet' })).statusCode, 404);
  });

  test("the workflow's own input check refuses the same ids (one rule, common/ids.ts)", () => {
    assert.equal(agentWorkflowId('victim', 'orch', 'alpha'), pipelineWorkflowId('victim-orch-alpha'), 'the collision the rule prevents');
    assert.throws(() => parsePipelineInput({ objective: 'o', pipelineId: 'victim-orch-alpha' }), /field "pipelineId" must be .*an agent's workflow id/);
    assert.equal(parsePipelineInput({ objective: 'o', pipelineId: 'victim-orchestra' }).pipelineId, 'victim-orchestra');
  });

  test('a spawn onto an id held by a workflow of another type is 409, not its run', async () => {
    const id = uniqueId('squat');
    // Nothing polls this queue: the squatter just holds the id.
    const squatter = await h.client.workflow.start('agentWorkflow', { taskQueue: `${h.taskQueue}-nobody`, workflowId: pipelineWorkflowId(id), args: [] });
    try {
      const r = await spawn({ pipeline_id: id });
      assert.equal(r.statusCode, 409, r.body);
      assert.match(json<Err>(r).message, /taken by a agentWorkflow workflow, not a pipeline/);
      // Steering it through the API is a 404: it is no pipeline, whatever its id says.
      for (const action of ['stop', 'gamma']) {
        const steer = await app.inject({ method: 'POST', url: `/api/pipeline/${id}/${action}`, payload: {} });
        assert.equal(steer.statusCode, 404, steer.body);
        assert.match(json<Err>(steer).message, /is a agentWorkflow/);
      }
    } finally {
      await squatter.terminate('test done');
    }
    // Closed, it still holds the id (reuse policy REJECT_DUPLICATE): still 409.
    assert.equal((await spawn({ pipeline_id: id })).statusCode, 409);
  });
});

describe('spend', () => {
  test('a model outside the allow-list is 400 naming the allowed ones, in spawn and continue', async () => {
    const r = await spawn({ model: 'expensive/model-9000' });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(json<Err>(r).message, /model "expensive\/model-9000" is not an allowed model; allowed: .*anthropic\/claude-sonnet-4/);
    assert.equal((await spawn({ models: { gamma: 'expensive/model-9000' } })).statusCode, 400);
    const c = await app.inject({ method: 'POST', url: '/api/pipeline/continue', payload: { pipeline_id: uniqueId('nope'), model: 'expensive/model-9000' } });
    assert.equal(c.statusCode, 400, c.body);
    // LLM_MODELS replaces the list (OPENROUTER_MODEL stays allowed).
    const custom = await startApi(h, { config: { ...h.config, LLM_MODELS: ['cheap/model'] } });
    try {
      assert.equal((await spawn({ model: 'openai/gpt-4o-mini' }, custom)).statusCode, 400);
      const ok = await spawn({ model: 'cheap/model', mode: 'local', pipeline_id: uniqueId('cheap') }, custom);
      assert.equal(ok.statusCode, 201, ok.body);
      await h.client.workflow.getHandle(json<{ workflow_id: string }>(ok).workflow_id).terminate('test done');
    } finally {
      await custom.close();
    }
  });

  test('latency_ms is for local mode only', async () => {
    const r = await spawn({ mode: 'openrouter', latency_ms: 100 });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(json<Err>(r).message, /latency_ms is for the local simulator only/);
  });

  test('at MAX_RUNNING_PIPELINES a new spawn is 429; a repeat of a running one is still answered', async () => {
    const capped = await startApi(h, { config: { ...h.config, MAX_RUNNING_PIPELINES: 1 } });
    const first = uniqueId('cap');
    try {
      // Other tests of this file may still be closing their pipelines: wait for an empty queue first.
      const running = async () =>
        (await h.client.workflow.count(`WorkflowType = 'pipelineWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '${h.taskQueue}'`)).count;
      for (let i = 0; i < 100 && (await running()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      const a = await spawn({ pipeline_id: first, mode: 'local', auto_continue: false }, capped);
      assert.equal(a.statusCode, 201, a.body);
      // Visibility counts it a moment after the start.
      for (let i = 0; i < 100 && (await running()) < 1; i++) await new Promise((r) => setTimeout(r, 100));
      const b = await spawn({ mode: 'local' }, capped);
      assert.equal(b.statusCode, 429, b.body);
      assert.match(json<Err>(b).message, /MAX_RUNNING_PIPELINES=1/);
      assert.equal((await spawn({ pipeline_id: uniqueId('cap') }, capped)).statusCode, 429);
      const again = await spawn({ pipeline_id: first, mode: 'local', auto_continue: false }, capped);
      assert.equal(again.statusCode, 201, again.body);
      assert.equal(json(again).run_id, json(a).run_id);
    } finally {
      await h.client.workflow
        .getHandle(pipelineWorkflowId(first))
        .terminate('test done')
        .catch(() => undefined);
      await capped.close();
    }
  });

  test('a burst of spawns at once starts no more than MAX_RUNNING_PIPELINES (visibility shows a start only later)', async () => {
    const capped = await startApi(h, { config: { ...h.config, MAX_RUNNING_PIPELINES: 2 } });
    const ids = Array.from({ length: 8 }, () => uniqueId('burst'));
    try {
      const running = async () =>
        (await h.client.workflow.count(`WorkflowType = 'pipelineWorkflow' AND ExecutionStatus = 'Running' AND TaskQueue = '${h.taskQueue}'`)).count;
      for (let i = 0; i < 100 && (await running()) > 0; i++) await new Promise((r) => setTimeout(r, 100));
      const replies = await Promise.all(ids.map((pipeline_id) => spawn({ pipeline_id, mode: 'local', auto_continue: false }, capped)));
      const codes = replies.map((r) => r.statusCode).sort();
      assert.deepEqual(codes, [201, 201, 429, 429, 429, 429, 429, 429], replies.map((r) => r.body).join('\n'));
      // The two started are still answered on a repeat, before visibility has caught up or after.
      for (const [i, r] of replies.entries()) {
        if (r.statusCode !== 201) continue;
        const again = await spawn({ pipeline_id: ids[i], mode: 'local', auto_continue: false }, capped);
        assert.equal(again.statusCode, 201, again.body);
      }
    } finally {
      for (const id of ids)
        await h.client.workflow
          .getHandle(pipelineWorkflowId(id))
          .terminate('test done')
          .catch(() => undefined);
      await capped.close();
    }
  });
});
