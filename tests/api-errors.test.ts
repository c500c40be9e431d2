import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { deadDependencies, json, startApi, startApiHarness, type Api } from './helpers/api';
import { uniqueId, type Harness } from './helpers/harness';

// The API's refusals, each as `{ statusCode, error, message }`: 400 for every kind of bad input on every
// endpoint, 413 past the body limit, 426 for /ws without an upgrade, 429 past the rate limit, and 503
// on every endpoint when Temporal, Redis or the ledger is down.

let h: Harness;
let app: Api;
before(async () => ({ h, app } = await startApiHarness('api-errors')));
after(async () => {
  await app?.close();
  await h?.stop();
});

type Err = { statusCode: number; error: string; message: string };
type Case = [method: 'GET' | 'POST', url: string, payload?: unknown];

function assertError(r: { statusCode: number; body: string }, code: number, what: string, message?: RegExp): void {
  assert.equal(r.statusCode, code, `${what}: ${r.body}`);
  const body = json<Err>(r);
  assert.deepEqual(Object.keys(body).sort(), ['error', 'message', 'statusCode'], what);
  assert.equal(body.statusCode, code, what);
  if (message) assert.match(body.message, message, what);
}

const inject = (a: Api, [method, url, payload]: Case) =>
  a.inject({
    method,
    url,
    ...(payload === undefined
      ? {}
      : typeof payload === 'string'
        ? { payload, headers: { 'content-type': 'application/json' } }
        : { payload: payload as object }),
  });

describe('400: bad input, on every endpoint', () => {
  const id = 'some-pipeline';
  const cases: [Case, RegExp][] = [
    [['POST', '/api/spawn', { objective: '' }], /objective/],
    [['POST', '/api/spawn', {}], /objective/],
    [['POST', '/api/spawn', { objective: 'x', mode: 'quantum' }], /mode/],
    [['POST', '/api/spawn', { objective: 'x', scenario: 'chaos' }], /scenario/],
    [['POST', '/api/spawn', { objective: 'x', timeout: 0 }], /timeout/],
    [['POST', '/api/spawn', { objective: 'x', pipeline_id: '../etc' }], /pipeline_id/],
    [['POST', '/api/spawn', { objective: 'x', surprise: true }], /additional/],
    [['POST', '/api/spawn', '{"objective":'], /JSON|Unexpected|body/i],
    [['POST', '/api/spawn', '[1,2]'], /object/],
    [['GET', '/api/pipelines?status=DANCING'], /status/],
    [['GET', '/api/pipelines?limit=0'], /limit/],
    [['GET', '/api/pipelines?limit=many'], /limit/],
    [['GET', '/api/pipeline/-bad-id'], /id/],
    [['GET', `/api/pipeline/${'x'.repeat(150)}`], /id/],
    [['GET', '/api/pipeline/a%20b/orchestration'], /id/],
    [['GET', '/api/checkpoint/report'], /pipeline_id/],
    [['GET', '/api/checkpoint/report?pipeline_id=%2F'], /pipeline_id/],
    [['POST', '/api/pipeline/continue', {}], /pipeline_id/],
    [['POST', '/api/pipeline/continue', { pipeline_id: id, mode: 'fast' }], /mode/],
    [['POST', '/api/pipeline/continue', { pipeline_id: id, timeout: -3 }], /timeout/],
    [['POST', `/api/pipeline/${id}/stop`, { reason: 'x'.repeat(501) }], /reason/],
    [['POST', `/api/pipeline/${id}/stop`, { why: 'no' }], /additional/],
    [['POST', `/api/pipeline/${id}/gamma`, { reason: 'BORED' }], /reason/],
    [['POST', `/api/pipeline/${id}/recover`, {}], /action/],
    [['POST', `/api/pipeline/${id}/recover`, { action: 'undo' }], /action/],
    [['GET', '/api/pipeline/logs?limit=0'], /limit/],
    [['GET', '/api/pipeline/logs?pipeline_id=%24%24'], /pipeline_id/],
    [['GET', '/api/pipeline/_x/checkpoints'], /id/],
    [['GET', '/ws?since=3'], /since needs pipeline_id/],
    [['GET', `/ws?pipeline_id=${id}&since=-1`], /since/],
    [['GET', `/ws?pipeline_id=${id}&since=abc`], /since/],
  ];
  for (const [c, message] of cases) {
    test(`${c[0]} ${c[1].slice(0, 60)} ${typeof c[2] === 'string' ? c[2] : JSON.stringify(c[2] ?? '').slice(0, 40)}`, async () => {
      assertError(await inject(app, c), 400, `${c[0]} ${c[1]}`, message);
    });
  }
});

describe('other refusals', () => {
  test('413 past the body limit', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/spawn', payload: { objective: 'x'.repeat(70 * 1024) } });
    assertError(r, 413, 'big body');
  });

  test('415 for a body that is not JSON', async () => {
    const r = await app.inject({ method: 'POST', url: '/api/spawn', payload: 'objective=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    assertError(r, 415, 'form body');
  });

  test('426 for /ws without a WebSocket upgrade', async () => {
    assertError(await app.inject({ method: 'GET', url: '/ws' }), 426, 'plain GET /ws', /upgrade/);
  });

  test('429 past the rate limit, with Retry-After; /healthz is not limited', async () => {
    const limited = await startApi(h, { rateLimit: { max: 3, timeWindowMs: 60_000 } });
    try {
      for (let i = 0; i < 3; i++) assert.equal((await limited.inject({ method: 'GET', url: '/api/pipeline/logs?limit=1' })).statusCode, 200);
      const r = await limited.inject({ method: 'GET', url: '/api/pipeline/logs?limit=1' });
      assertError(r, 429, 'fourth request', /rate limit/);
      assert.ok(Number(r.headers['retry-after']) > 0, 'Retry-After says when to come back');
      assert.equal((await limited.inject({ method: 'GET', url: '/healthz' })).statusCode, 200);
    } finally {
      await limited.close();
    }
  });
});

describe('503: a dependency is down', () => {
  let down: Awaited<ReturnType<typeof deadDependencies>>;
  let broken: Api;
  before(async () => {
    down = await deadDependencies();
    broken = await startApi(h, { temporal: down.temporal, redis: down.redis, ledger: down.ledger });
  });
  after(async () => {
    await broken?.close();
    await down?.close();
  });

  const id = uniqueId('down');
  const cases: Case[] = [
    ['POST', '/api/spawn', { objective: 'Design a caching strategy' }],
    ['GET', '/api/pipelines'],
    ['GET', `/api/pipeline/${id}`],
    ['GET', `/api/pipeline/${id}/orchestration`],
    ['GET', `/api/checkpoint/report?pipeline_id=${id}`],
    ['POST', '/api/pipeline/continue', { pipeline_id: id }],
    ['POST', `/api/pipeline/${id}/stop`, {}],
    ['POST', `/api/pipeline/${id}/gamma`, {}],
    ['POST', `/api/pipeline/${id}/recover`, { action: 'rerun' }],
    ['GET', `/api/pipeline/logs?pipeline_id=${id}`],
    ['GET', `/api/pipeline/${id}/checkpoints`],
  ];
  for (const c of cases) {
    test(`${c[0]} ${c[1]}`, async () => {
      assertError(await inject(broken, c), 503, `${c[0]} ${c[1]}`, /unavailable/);
    });
  }

  test('GET /ws answers 503 before upgrading', async () => {
    await assert.rejects(broken.injectWS(`/ws?pipeline_id=${id}`), /Unexpected server response: 503/);
    await assert.rejects(broken.injectWS('/ws'), /Unexpected server response: 503/);
  });

  test('GET /healthz names what is down', async () => {
    const r = await broken.inject({ method: 'GET', url: '/healthz' });
    assert.equal(r.statusCode, 503);
    const body = json<{ status: string; checks: Record<string, string> }>(r);
    assert.equal(body.status, 'degraded');
    for (const k of ['temporal', 'redis', 'ledger']) assert.match(body.checks[k]!, /^down: /, k);
  });
});
