import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { json, startApiHarness, type Api } from './helpers/api';
import type { Harness } from './helpers/harness';

// What the API serves besides pipelines: OpenAPI at /docs, Prometheus text at /metrics, and the
// dashboard page — all from this server, nothing from another site.

let h: Harness;
let app: Api;
before(async () => ({ h, app } = await startApiHarness('api-docs')));
after(async () => {
  await app?.close();
  await h?.stop();
});

describe('docs, metrics, dashboard', () => {
  test('/docs/json is OpenAPI describing every route of the contract, with schemas and bearer auth', async () => {
    const r = await app.inject({ method: 'GET', url: '/docs/json' });
    assert.equal(r.statusCode, 200);
    const doc = json<{
      openapi: string;
      paths: Record<string, Record<string, { requestBody?: unknown; parameters?: unknown[]; responses: Record<string, unknown> }>>;
      components: { securitySchemes: object };
    }>(r);
    assert.match(doc.openapi, /^3\./);
    const expected: [string, string][] = [
      ['post', '/api/spawn'],
      ['get', '/api/pipelines'],
      ['get', '/api/pipeline/{id}'],
      ['get', '/api/checkpoint/report'],
      ['post', '/api/pipeline/continue'],
      ['get', '/api/pipeline/{id}/orchestration'],
      ['post', '/api/pipeline/{id}/stop'],
      ['post', '/api/pipeline/{id}/gamma'],
      ['post', '/api/pipeline/{id}/recover'],
      ['get', '/api/pipeline/logs'],
      ['get', '/api/pipeline/{id}/checkpoints'],
      ['get', '/api/pipeline/{id}/transcript'],
      ['get', '/ws'],
      ['get', '/healthz'],
      ['get', '/metrics'],
    ];
    for (const [method, path] of expected) {
      const op = doc.paths[path]?.[method];
      assert.ok(op, `${method.toUpperCase()} ${path} is documented`);
      assert.ok(Object.keys(op.responses).length > 0, `${path} documents its answers`);
    }
    assert.ok(doc.paths['/api/spawn']!.post!.requestBody, 'the spawn body schema is published');
    assert.ok(doc.paths['/api/pipeline/{id}/recover']!.post!.responses['409'], 'recover documents its 409');
    assert.deepEqual(Object.keys(doc.components.securitySchemes), ['bearer']);
  });

  test('/docs serves Swagger UI from this server, with a same-origin content security policy', async () => {
    const page = await app.inject({ method: 'GET', url: '/docs' });
    assert.equal(page.statusCode, 200);
    assert.match(page.body, /swagger-ui-bundle\.js/);
    assert.doesNotMatch(page.body, /(src|href)="https?:\/\//, 'no script or style from another site');
    assert.match(String(page.headers['content-security-policy']), /default-src 'self'/);
    const bundle = await app.inject({ method: 'GET', url: '/docs/static/swagger-ui-bundle.js' });
    assert.equal(bundle.statusCode, 200);
  });

  test('/metrics is Prometheus text: requests by route and status, and process metrics', async () => {
    await app.inject({ method: 'GET', url: '/healthz' });
    await app.inject({ method: 'GET', url: '/api/pipeline/does-not-exist' });
    const r = await app.inject({ method: 'GET', url: '/metrics' });
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain/);
    assert.match(r.body, /^# HELP /, 'plain text, not a JSON string');
    assert.match(r.body, /http_requests_total\{method="GET",route="\/healthz",status_code="200"\} [1-9]/);
    assert.match(r.body, /http_requests_total\{method="GET",route="\/api\/pipeline\/:id",status_code="404"\} [1-9]/, 'by route pattern, not by URL');
    assert.match(r.body, /http_request_duration_seconds_bucket\{le="0.005",method="GET",route="\/healthz",status_code="200"\}/);
    assert.match(r.body, /process_cpu_user_seconds_total/);
    assert.match(r.body, /nodejs_eventloop_lag_seconds/);
    assert.match(r.body, /# TYPE ws_clients gauge/);
  });

  test('/ is the dashboard: one page, its script and style from this server, a strict content security policy', async () => {
    const page = await app.inject({ method: 'GET', url: '/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /connect-src 'self'/);
    for (const id of [
      'spawn-form',
      'pipelines',
      'phases',
      'agents',
      'proposals',
      'report',
      'events',
      'btn-continue',
      'btn-stop',
      'btn-gamma',
      'btn-recover',
      'token',
    ]) {
      assert.match(page.body, new RegExp(`id="${id}"`), `the page has #${id}`);
    }
    // The Temporal Web UI address is filled in from the configuration.
    assert.match(page.body, new RegExp(`<meta name="temporal-ui" content="${h.config.TEMPORAL_UI_URL.replace(/\/+$/, '')}" />`));
    assert.doesNotMatch(page.body, /%TEMPORAL_/);
    for (const file of ['/dashboard/app.js', '/dashboard/style.css']) {
      const r = await app.inject({ method: 'GET', url: file });
      assert.equal(r.statusCode, 200, file);
      assert.doesNotMatch(r.body, /https?:\/\//, `${file} refers to no other site`);
    }
    assert.doesNotMatch(page.body, /(src|href)="https?:\/\//);
    assert.equal((await app.inject({ method: 'GET', url: '/dashboard/nope.js' })).statusCode, 404);
  });
});
