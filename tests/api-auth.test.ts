import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { WebSocket } from 'ws';
import { tokenMatches } from '../api/auth';
import { pipelineWorkflowId } from '../common/ids';
import { bearerProtocols, json, listen, startApi, WsClient, type Api } from './helpers/api';
import { startHarness, uniqueId, type Harness } from './helpers/harness';

// With API_TOKEN set: every route but /healthz, the dashboard's files and /docs answers 401 without the
// right bearer token (header, or for /ws the subprotocol), and the token never reaches the log.

const TOKEN = 'test-token-0123456789abcdef';
let h: Harness;
let app: Api;
let address: string;
let logged = '';
let pipelineId: string;

before(async () => {
  h = await startHarness('api-auth');
  const sink = new Writable({
    write(chunk, _enc, done) {
      logged += String(chunk);
      done();
    },
  });
  app = await startApi(h, { token: TOKEN, logger: pino({ level: 'trace' }, sink) });
  address = await listen(app);
  pipelineId = uniqueId('auth');
});
after(async () => {
  await app?.close();
  await h?.stop();
});

const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

describe('bearer token', () => {
  // Every protected route, with a request that is otherwise fine.
  const routes = (): [string, string, object?][] => [
    ['POST', '/api/spawn', { objective: 'Design a caching strategy', pipeline_id: pipelineId, auto_continue: false }],
    ['GET', '/api/pipelines?limit=5'],
    ['GET', `/api/pipeline/${pipelineId}`],
    ['GET', `/api/pipeline/${pipelineId}/orchestration`],
    ['GET', `/api/checkpoint/report?pipeline_id=${pipelineId}`],
    ['POST', `/api/pipeline/${pipelineId}/gamma`, {}],
    ['POST', '/api/pipeline/continue', { pipeline_id: pipelineId }],
    ['POST', `/api/pipeline/${pipelineId}/recover`, { action: 'rerun' }],
    ['POST', `/api/pipeline/${pipelineId}/stop`, {}],
    ['GET', `/api/pipeline/logs?pipeline_id=${pipelineId}`],
    ['GET', `/api/pipeline/${pipelineId}/checkpoints`],
    ['GET', '/metrics'],
    ['GET', '/api/unknown-route'],
  ];

  test('every protected route: 401 without, with a wrong or malformed token; served with the right one', async () => {
    const wrong = [
      {},
      bearer('x'),
      bearer(TOKEN.slice(0, -1) + 'X'),
      bearer(`${TOKEN}${TOKEN}`),
      { authorization: TOKEN },
      { authorization: `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}` },
    ];
    for (const [method, url, payload] of routes()) {
      for (const headers of wrong) {
        const r = await app.inject({ method: method as 'GET' | 'POST', url, headers, ...(payload ? { payload } : {}) });
        assert.equal(r.statusCode, 401, `${method} ${url} with ${JSON.stringify(headers)}`);
        assert.deepEqual(json(r), { statusCode: 401, error: 'Unauthorized', message: 'missing or bad bearer token' });
        assert.equal(r.headers['www-authenticate'], 'Bearer');
      }
      const ok = await app.inject({ method: method as 'GET' | 'POST', url, headers: bearer(TOKEN), ...(payload ? { payload } : {}) });
      assert.notEqual(ok.statusCode, 401, `${method} ${url} with the token: ${ok.body}`);
      assert.ok(ok.statusCode < 500, `${method} ${url}: ${ok.body}`);
      if (url === '/api/spawn') {
        assert.equal(ok.statusCode, 201);
        await h.waitForStatus(h.client.workflow.getHandle(pipelineWorkflowId(pipelineId)), 'REPORT');
      }
    }
    // In order: gamma and continue were accepted, recover refused, stop accepted.
    assert.equal((await h.client.workflow.getHandle(pipelineWorkflowId(pipelineId)).result()).status, 'STOPPED');
  });

  test('the scheme is case-insensitive', async () => {
    const r = await app.inject({ method: 'GET', url: '/api/pipelines?limit=1', headers: { authorization: `bearer ${TOKEN}` } });
    assert.equal(r.statusCode, 200);
  });

  test('public without a token: /healthz, the dashboard, /docs', async () => {
    for (const url of ['/healthz', '/', '/dashboard/app.js', '/dashboard/style.css', '/docs', '/docs/json']) {
      const r = await app.inject({ method: 'GET', url });
      assert.ok(r.statusCode === 200 || r.statusCode === 302, `${url}: ${r.statusCode}`);
    }
  });

  test('/ws: 401 without the token, open with it as subprotocol or header; the token is never echoed', async () => {
    const query = `?pipeline_id=${pipelineId}`;
    await assert.rejects(WsClient.open(address, query), (err: { statusCode?: number }) => err.statusCode === 401);
    await assert.rejects(WsClient.open(address, query, bearerProtocols('wrong-token-0123456789')), (err: { statusCode?: number }) => err.statusCode === 401);
    await assert.rejects(WsClient.open(address, '', ['agent-governance']), (err: { statusCode?: number }) => err.statusCode === 401);

    const viaProtocol = await WsClient.open(address, `${query}&since=0`, bearerProtocols(TOKEN));
    assert.equal(viaProtocol.ws.protocol, 'agent-governance');
    await viaProtocol.until((events) => events.some((e) => e.type === 'pipeline_finished'));
    assert.equal(viaProtocol.events[0]?.seq, 1);
    await viaProtocol.close();

    const ws = new WebSocket(`ws://${address}/ws${query}`, { headers: bearer(TOKEN) });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    ws.close();
  });

  test('the token never reaches the log', () => {
    assert.ok(logged.length > 0, 'requests were logged');
    assert.ok(!logged.includes(TOKEN), 'the token is not in the log');
    assert.ok(!logged.includes(Buffer.from(TOKEN).toString('base64url')), 'nor its base64url form');
  });

  test('tokenMatches compares in constant time, whatever the lengths', () => {
    assert.equal(tokenMatches(TOKEN, TOKEN), true);
    assert.equal(tokenMatches(undefined, TOKEN), false);
    assert.equal(tokenMatches('', TOKEN), false);
    assert.equal(tokenMatches(TOKEN.slice(1), TOKEN), false);
    assert.equal(tokenMatches(`${TOKEN}x`, TOKEN), false);
  });
});
