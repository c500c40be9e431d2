import { PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId } from '../common/ids';
import { seededRandom } from '../devstack/fakeLlm';
import { history, http, pool, sleep, spawn, status, until, type HttpAnswer } from './observe';
import type { CaseRecorder } from './report';
import { TASK_QUEUE, type ChaosStack } from './stack';

// R5: bad input in bulk. Malformed API requests (wrong types, broken JSON, unknown fields, huge
// bodies, bad ids) must never get a 5xx; malformed workflow inputs started straight through the
// Temporal client must never leave a workflow task failing in a loop; a flood of /gamma on one
// pipeline must not grow its history without bound.

const ROUTES: [string, string][] = [
  ['POST', '/api/spawn'],
  ['POST', '/api/pipeline/continue'],
  ['POST', '/api/pipeline/{id}/stop'],
  ['POST', '/api/pipeline/{id}/gamma'],
  ['POST', '/api/pipeline/{id}/recover'],
  ['GET', '/api/pipeline/{id}'],
  ['GET', '/api/pipeline/{id}/orchestration'],
  ['GET', '/api/pipeline/{id}/report.md'],
  ['GET', '/api/pipeline/{id}/checkpoints'],
  ['GET', '/api/pipeline/{id}/transcript'],
  ['GET', '/api/pipelines'],
  ['GET', '/api/pipeline/logs'],
  ['GET', '/api/checkpoint/report'],
];
const BAD_IDS = ['..%2F..%2Fetc', '%00', 'a'.repeat(300), '-lead', 'x%20y', 'victim-orch-alpha', '%F0%9F%92%A5', 'a.b', '__proto__'];
const BAD_VALUES: unknown[] = [42, -1, 1e309, 1.5, '', ' ', 'x'.repeat(70_000), null, true, [], {}, [1, 2], { $gt: '' }, '42', 'true', '__proto__', '\u0000'];
const FIELDS = [
  'objective',
  'pipeline_id',
  'mode',
  'model',
  'timeout',
  'auto_continue',
  'scenario',
  'latency_ms',
  'models',
  'action',
  'reason',
  'detail',
  'limit',
  'since',
];
const QUERIES = [
  '?limit=abc',
  '?limit=-1',
  '?limit=1e9',
  '?status=NOPE',
  '?pipeline_id=',
  '?since=x',
  '?offset=-5',
  '?limit[]=1',
  '?pipeline_id=a&pipeline_id=b',
];

function malformedRequest(random: () => number, id: string): { method: string; path: string; raw?: string; headers?: Record<string, string> } {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const [method, route] = pick(ROUTES);
  const path = route.replace('{id}', random() < 0.5 ? pick(BAD_IDS) : id) + (random() < 0.3 ? pick(QUERIES) : '');
  const body: Record<string, unknown> = {};
  for (let i = 0, n = 1 + Math.floor(random() * 3); i < n; i++) body[pick(FIELDS)] = pick(BAD_VALUES);
  const kind = random();
  if (kind < 0.15) return { method, path, raw: '{"objective": "x",', headers: { 'content-type': 'application/json' } };
  if (kind < 0.25) return { method, path, raw: 'objective=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } };
  if (kind < 0.3) return { method, path, raw: JSON.stringify({ objective: 'y'.repeat(2_000_000) }) };
  if (kind < 0.35) return { method: pick(['PUT', 'DELETE', 'PATCH']), path };
  if (kind < 0.4) return { method, path, raw: JSON.stringify([body]) };
  return { method, path, raw: JSON.stringify(body) };
}

/** Workflow inputs no API would send: wrong types, missing fields, ids that are not the workflow's. */
function malformedInput(random: () => number, i: number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
  const shapes: (() => unknown)[] = [
    () => pick(BAD_VALUES),
    () => ({ objective: pick(BAD_VALUES) }),
    () => ({ objective: 'x', timeoutSeconds: pick(BAD_VALUES) }),
    () => ({ objective: 'x', budgets: pick(BAD_VALUES) }),
    () => ({ objective: 'x', budgets: { errors: pick(BAD_VALUES), tokens: pick(BAD_VALUES) } }),
    () => ({ objective: 'x', mode: pick(['remote', 42, null]) }),
    () => ({ objective: 'x', scenario: pick(['explode', 7, {}]) }),
    () => ({ objective: 'x', thresholds: { complexity: pick([2, -1, 'high', null]) } }),
    () => ({ objective: 'x', pipelineId: `other-${i}` }),
    () => ({ objective: 'x', models: { alpha: pick(BAD_VALUES), delta: 'm' } }),
    () => ({ objective: 'x', latencyMs: pick([-5, 1e12, 'slow']) }),
  ];
  return pick(shapes)();
}

export interface FloodOptions {
  requests: number;
  inputs: number;
  gammaCalls: number;
  seed: number;
}

export async function floods(stack: ChaosStack, rec: CaseRecorder, opts: FloodOptions): Promise<void> {
  const random = seededRandom(opts.seed);
  // A pipeline waiting at REPORT: the target of the ids that exist, and of the /gamma flood.
  const target = await spawn(stack, { mode: 'local', auto_continue: false, latency_ms: 0 }, 'r5');
  await until(async () => (await status(stack, target))?.status === 'REPORT', 30_000);

  // The API's rate limit is per process and in memory: a fresh API for each flood.
  await stack.restartApi();
  const answers: HttpAnswer[] = await pool(
    Array.from({ length: opts.requests }, () => malformedRequest(random, target)),
    8,
    (r) => http(stack, r.method, r.path, { raw: r.raw, headers: r.headers }),
  );
  const codes = countBy(answers.map((a) => a.status));
  const fivexx = answers.filter((a) => a.status >= 500 || a.status === 0);
  const why = fivexx.find((a) => a.status === 0)?.text;
  rec.check(
    `5xx (or no answer) among ${opts.requests} malformed API requests`,
    `${fivexx.length} (codes ${fmt(codes)})${why ? ` e.g. ${why.slice(0, 60)}` : ''}`,
    fivexx.length === 0,
  );

  // Malformed workflow inputs, started as the CLI or a script would, around the API.
  const started: string[] = [];
  for (let i = 0; i < opts.inputs; i++) {
    const workflowId = pipelineWorkflowId(`r5-input-${Date.now().toString(36)}-${i}`);
    await stack.client.workflow
      .start(PIPELINE_WORKFLOW_TYPE, { taskQueue: TASK_QUEUE, workflowId, args: [malformedInput(random, i)], workflowRunTimeout: '5 minutes' })
      .then(() => started.push(workflowId))
      .catch(() => undefined);
  }
  await sleep(Math.min(30_000, 3000 + opts.inputs * 150));
  let looping = 0;
  let running = 0;
  const examples: string[] = [];
  for (const id of started) {
    const h = await history(stack, id).catch(() => undefined);
    const failed = h?.types.filter((t) => t === 'EVENT_TYPE_WORKFLOW_TASK_FAILED').length ?? 0;
    if (failed > 0) {
      looping++;
      if (examples.length < 2) examples.push(`${id}: ${failed}`);
    }
    const desc = await stack.client.workflow
      .getHandle(id)
      .describe()
      .catch(() => undefined);
    if (desc?.status.name === 'RUNNING') {
      running++;
      await stack.client.workflow
        .getHandle(id)
        .terminate('chaos R5: done looking')
        .catch(() => undefined);
    }
  }
  rec.check(
    `workflows with failing workflow tasks among ${started.length} malformed inputs`,
    `${looping}${examples.length ? ` (${examples.join('; ')})` : ''}; ${running} still running after the wait`,
    looping === 0,
  );

  // The /gamma flood on the pipeline waiting at REPORT.
  await stack.restartApi();
  const before = (await history(stack, pipelineWorkflowId(target))).types.length;
  const gamma = await pool(Array.from({ length: opts.gammaCalls }), 10, () =>
    http(stack, 'POST', `/api/pipeline/${target}/gamma`, { body: { reason: 'MANUAL' } }),
  );
  await sleep(1000);
  const after = (await history(stack, pipelineWorkflowId(target))).types.length;
  const gammaCodes = countBy(gamma.map((a) => a.status));
  const accepted = gamma.filter((a) => a.status === 202).length;
  rec.check(`/gamma calls accepted (202) of ${opts.gammaCalls} on one pipeline`, `${accepted} (codes ${fmt(gammaCodes)})`, accepted <= 1);
  rec.check('history events added by the /gamma flood', `${after - before} (${before} → ${after})`, after - before <= 50);
  rec.check(
    '5xx among the /gamma calls',
    gamma.filter((a) => a.status >= 500 || a.status === 0).length,
    gamma.every((a) => a.status > 0 && a.status < 500),
  );
  await http(stack, 'POST', `/api/pipeline/${target}/stop`, { body: { reason: 'chaos R5 done' } });
  await stack.restartApi();
}

const countBy = (xs: number[]): Map<number, number> => xs.reduce((m, x) => m.set(x, (m.get(x) ?? 0) + 1), new Map<number, number>());
const fmt = (m: Map<number, number>): string =>
  [...m.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
