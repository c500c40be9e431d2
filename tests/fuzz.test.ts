import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import type { TObject } from '@fastify/type-provider-typebox';
import { ContinueBody, GammaBody, RecoverBody, SpawnBody, StopBody } from '../api/schemas';
import { json, listen, startApi, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';

// 1000 generated malformed requests against the real API (real Temporal, Redis, ledger): not one 5xx,
// every refusal in the contract's error shape, and the server still answers afterwards. Then raw bytes
// that are not HTTP at all, on a real socket.

let h: Harness;
let app: Api;
let guarded: Api; // the same API with API_TOKEN set
before(async () => {
  h = await startHarness('fuzz');
  app = await startApi(h);
  guarded = await startApi(h, { token: 'fuzz-token-0123456789abcdef' });
});
after(async () => {
  await guarded?.close();
  await app?.close();
  await h?.stop();
});

const ROUTES = [
  'POST /api/spawn',
  'GET /api/pipelines',
  'GET /api/pipeline/:id',
  'GET /api/checkpoint/report',
  'POST /api/pipeline/continue',
  'GET /api/pipeline/:id/orchestration',
  'POST /api/pipeline/:id/stop',
  'POST /api/pipeline/:id/gamma',
  'POST /api/pipeline/:id/recover',
  'GET /api/pipeline/logs',
  'GET /api/pipeline/:id/checkpoints',
  'GET /api/pipeline/:id/transcript',
  'GET /ws',
  'GET /healthz',
  'GET /metrics',
  'GET /docs/json',
  'GET /',
];

// Junk of every shape: unicode, control characters, traversal, encodings, numbers, huge strings.
const junk = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(
    '',
    ' ',
    '..',
    '../../etc/passwd',
    '%00',
    '%zz',
    '%E0%A4%A',
    '-1',
    '0',
    '1e309',
    'NaN',
    'null',
    'true',
    '[]',
    '{}',
    '__proto__',
    'constructor',
    'x'.repeat(300),
  ),
  fc.integer().map(String),
  fc.double().map(String),
);
const segment = fc.oneof(
  junk.map((s) => encodeURIComponent(s)),
  fc.constantFrom('demo', 'a'.repeat(101), '%2F', '%2e%2e', '.', 'pipeline-x'),
);
const query = fc
  .array(
    fc.tuple(
      fc.oneof(fc.constantFrom('status', 'limit', 'pipeline_id', 'since', 'token'), junk),
      fc.oneof(junk, fc.constantFrom('REPORT', '5', '0', '-3', '99999')),
    ),
    { maxLength: 4 },
  )
  .map((pairs) => (pairs.length ? `?${pairs.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}` : ''));
const path = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...ROUTES), segment).map(([route, id]) => route.split(' ')[1]!.replace(':id', id)) },
  { weight: 1, arbitrary: fc.array(segment, { minLength: 1, maxLength: 5 }).map((parts) => `/${parts.join('/')}`) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '/api',
      '/api/',
      '/api/pipeline',
      '/api/pipeline/',
      '//api//spawn',
      '/api/spawn/',
      '/docs/static/../../package.json',
      '/dashboard/../server.ts',
    ),
  },
);
// Spawn-like bodies are always broken somewhere (objective never a valid string), so no pipeline starts.
const badObjective = fc.oneof(
  fc.constant(''),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string()),
  fc.object(),
  fc.constant('x'.repeat(5000)),
);
const body = fc.oneof(
  fc.constant(undefined),
  junk,
  fc.json().map((s) => s),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc
    .record({ objective: badObjective, mode: junk, auto_continue: fc.anything(), pipeline_id: junk, timeout: fc.anything() }, { requiredKeys: ['objective'] })
    .map((o) => JSON.stringify(o)),
  fc.record({ pipeline_id: junk, action: junk, reason: junk, mode: junk }, { requiredKeys: [] }).map((o) => JSON.stringify(o)),
  fc.constantFrom('{"objective":', '{"objective": "x"', '{{{{', '\u0000', '{"__proto__":{"polluted":1}}', `{"objective":"${'y'.repeat(70 * 1024)}"}`),
);
const headers = fc.record(
  {
    'content-type': fc.constantFrom(
      'application/json',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'garbage/???',
      '',
    ),
    authorization: fc.oneof(junk, fc.constantFrom('Bearer', 'Bearer ', 'Basic Og==', 'Bearer a b c')),
    upgrade: fc.constantFrom('websocket', 'h2c', 'garbage'),
    'x-forwarded-for': junk,
    // Mostly a name the API answers, so that most requests get past the Host check.
    host: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom('localhost', '127.0.0.1:3000', '[::1]:1') },
      { weight: 1, arbitrary: fc.constantFrom('evil.example', 'x:y:z', '[zz]', '') },
    ),
    origin: fc.oneof(junk, fc.constantFrom('http://evil.example', 'null', 'http://localhost:80')),
  },
  { requiredKeys: [] },
);
type Method = 'GET' | 'POST' | 'PUT' | 'DELETE' | 'PATCH' | 'HEAD' | 'OPTIONS';
// Mostly a route's own method, so that requests reach validation and handlers, not just the 404.
const method = fc.oneof(
  { weight: 3, arbitrary: fc.constant('ROUTE' as const) },
  { weight: 1, arbitrary: fc.constantFrom<Method>('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS') },
);
const methodFor = (m: Method | 'ROUTE', p: string): Method => {
  if (m !== 'ROUTE') return m;
  const route = ROUTES.find((r) => new RegExp(`^${r.split(' ')[1]!.replace(':id', '[^/]*')}$`).test(p.split('?')[0]!));
  return (route?.split(' ')[0] as Method | undefined) ?? 'POST';
};

test("1000 malformed requests: no 5xx, errors in the contract's shape, the server still answers", async (t) => {
  const seen = new Map<number, number>();
  await fc.assert(
    fc.asyncProperty(method, path, query, headers, body, fc.boolean(), async (mm, p, q, hdrs, payload, withToken) => {
      const m = methodFor(mm, p);
      const server = withToken ? guarded : app;
      // Header values must at least be representable on the wire.
      const cleanHeaders = Object.fromEntries(Object.entries(hdrs).filter(([, v]) => /^[\t\x20-\x7e]*$/.test(String(v))));
      const r = await server.inject({
        method: m,
        url: `${p}${q}`,
        headers: cleanHeaders,
        ...(payload === undefined || m === 'GET' || m === 'HEAD' ? {} : { payload }),
      });
      seen.set(r.statusCode, (seen.get(r.statusCode) ?? 0) + 1);
      assert.ok(r.statusCode < 500, `${m} ${p}${q} answered ${r.statusCode}: ${r.body.slice(0, 300)}`);
      if (r.statusCode >= 400 && m !== 'HEAD' && /json/.test(String(r.headers['content-type']))) {
        const e = json<Record<string, unknown>>(r);
        assert.deepEqual(Object.keys(e).sort(), ['error', 'message', 'statusCode'], `${m} ${p}: ${r.body.slice(0, 200)}`);
        assert.equal(e.statusCode, r.statusCode);
      }
    }),
    { numRuns: 1000 },
  );
  t.diagnostic(`status codes: ${JSON.stringify([...seen].sort((a, b) => a[0] - b[0]))}`);
  // Sanity: the generator really produced refusals of several kinds.
  for (const code of [400, 401, 404, 415, 421]) assert.ok(seen.has(code), `the generator produced a ${code}: ${JSON.stringify([...seen])}`);
  assert.ok(!('polluted' in {}), 'no prototype pollution');
  const health = await app.inject({ method: 'GET', url: '/healthz' });
  assert.equal(health.statusCode, 200);
  assert.equal((await app.inject({ method: 'GET', url: '/api/pipelines?limit=1' })).statusCode, 200);
});

test('bytes that are not HTTP, on a real socket: refused with 400, the server still answers', async () => {
  const address = await listen(app);
  const [host, port] = [address.split(':')[0]!, Number(address.split(':')[1])];
  const garbage = [
    '\x00\x01\x02\x03\r\n\r\n',
    'GET / HTTP/9.9\r\n\r\n',
    'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: -1\r\n\r\n',
    `GET /${'a'.repeat(20_000)} HTTP/1.1\r\n\r\n`,
    'POST /api/spawn HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    'GET /healthz HTTP/1.1\r\nHost: evil.example\r\n\r\n',
    'HELLO\r\n\r\n',
  ];
  for (const bytes of garbage) {
    const answer = await new Promise<string>((resolve) => {
      const s = connect({ host, port });
      let got = '';
      s.on('data', (d) => (got += String(d)));
      s.on('close', () => resolve(got));
      s.on('error', () => resolve(got));
      s.write(bytes);
      setTimeout(() => s.end(), 500).unref();
    });
    assert.match(answer, /^HTTP\/1\.1 (400|404|413|414|421|431|505)|^$/, `answer to ${JSON.stringify(bytes.slice(0, 40))}: ${answer.slice(0, 80)}`);
  }
  const r = await fetch(`http://${address}/healthz`);
  assert.equal(r.status, 200);
});

// Every field of every route with a body, given a value of each wrong JSON type: always a 400 naming the
// field, never coerced into a right one (`{"objective": 42}` is not the string "42").
const BODY_ROUTES: [string, TObject, Record<string, unknown>][] = [
  ['/api/spawn', SpawnBody, { objective: 'Design a caching strategy', mode: 'local' }],
  ['/api/pipeline/continue', ContinueBody, { pipeline_id: 'fuzz-types' }],
  ['/api/pipeline/fuzz-types/stop', StopBody, {}],
  ['/api/pipeline/fuzz-types/gamma', GammaBody, {}],
  ['/api/pipeline/fuzz-types/recover', RecoverBody, { action: 'rerun' }],
];
const SAMPLES: Record<string, unknown[]> = {
  string: ['42', 'true', '{}'],
  number: [42, 0, 1.5, -1],
  boolean: [true, false],
  null: [null],
  array: [[], ['x'], [42]],
  object: [{}, { value: 'x' }],
};
const jsonType = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
const accepts = (schema: { type?: string; enum?: unknown[] }, v: unknown): boolean => {
  const t = jsonType(v);
  if (schema.type === 'integer') return t === 'number' && Number.isInteger(v);
  if (schema.type === 'number') return t === 'number';
  return schema.type === t;
};

test('wrong types on every field of every route with a body: 400 naming the field, nothing coerced', async () => {
  let cases = 0;
  for (const [url, schema, base] of BODY_ROUTES) {
    for (const [field, fieldSchema] of Object.entries(schema.properties)) {
      for (const value of Object.values(SAMPLES).flat()) {
        if (accepts(fieldSchema as { type?: string }, value)) continue;
        const r = await app.inject({ method: 'POST', url, payload: { ...base, [field]: value } });
        cases++;
        assert.equal(r.statusCode, 400, `${url} ${field}=${JSON.stringify(value)}: ${r.statusCode} ${r.body}`);
        assert.match(json<{ message: string }>(r).message, new RegExp(`body/${field}`), `${url} ${field}=${JSON.stringify(value)}: ${r.body}`);
      }
    }
  }
  assert.ok(cases > 100, `${cases} cases`);
});
