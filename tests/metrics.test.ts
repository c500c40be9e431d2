import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { continueUpdate, statusQuery } from '../common/messages';
import { LOCAL_MODEL } from '../common/types';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';
import { startTs, waitFor, type Managed } from '../devstack/processes';
import { freePort } from '../devstack/temporalServer';
import { listen, startApi, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';
import { testLogStream } from './helpers/logs';
import { shippedQueries } from './helpers/monitoring';
import { declaredNames, findPromtool, hasSeries, metricNames, parseSamples, promtool, PROMTOOL_MISSING, sumOf } from './helpers/prom';

// What an operator's Prometheus sees: the real `npm run worker` process (its /metrics on
// WORKER_METRICS_PORT, the Temporal SDK's exporter on WORKER_SDK_METRICS_PORT) and the API's /metrics,
// scraped over HTTP after pipelines in local mode and through the fake OpenAI-compatible server. The
// figures are checked against what the run did (the ledger, the fake's request log), and every body
// must pass `promtool check metrics`.

const KEY = 'sk-or-test-METRICS-9f8e7d6c5b';
const UNLISTED_MODEL = 'unlisted/model-for-metrics';
let fake: FakeLlm;
let h: Harness;
let worker: Managed;
let app: Api;
let workerUrl: string;
let sdkUrl: string;
let apiUrl: string;
const pipelineIds: string[] = [];

const scrape = async (url: string): Promise<string> => {
  const res = await fetch(url);
  assert.equal(res.status, 200, `GET ${url}`);
  return res.text();
};

before(async () => {
  fake = await startFakeLlm({ apiKey: KEY });
  const env = { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' };
  // No worker in the harness: the worker process serves its queue. The harness's ledger file (tables
  // created) is the one the worker writes, so the test reads what the worker wrote.
  h = await startHarness('metrics', { env, roles: [] });
  const [metricsPort, sdkPort] = [await freePort(), await freePort()];
  worker = startTs(
    'worker',
    'workers/main.ts',
    {
      ...process.env,
      ...env,
      TEMPORAL_TASK_QUEUE: h.taskQueue,
      LEDGER_PATH: h.ledger.path,
      WORKER_METRICS_PORT: String(metricsPort),
      WORKER_SDK_METRICS_PORT: String(sdkPort),
    },
    testLogStream(),
  );
  workerUrl = `http://127.0.0.1:${metricsPort}/metrics`;
  sdkUrl = `http://127.0.0.1:${sdkPort}/metrics`;
  await waitFor('the worker serves /metrics', async () => (await fetch(workerUrl)).ok, 90_000, worker);
  app = await startApi(h);
  apiUrl = `http://${await listen(app)}/metrics`;
});

after(async () => {
  await app?.close();
  await worker?.stop();
  await h?.stop();
  await fake?.close();
});

describe('worker metrics', () => {
  test('a local pipeline: 1 started, 1 ended COMPLETED, its phases, rounds and simulator calls, each counted once', async () => {
    const before = await scrape(workerUrl);
    const handle = await h.start({ mode: 'local' });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    pipelineIds.push(pipelineId);
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    // The last batch (pipeline_finished) may reach the ledger just after the result.
    let body = '';
    await waitFor(
      'pipeline_finished counted',
      async () => sumOf((body = await scrape(workerUrl)), 'pipelines_ended_total') > sumOf(before, 'pipelines_ended_total'),
      20_000,
    );
    const delta = (name: string, labels: Record<string, string> = {}) => sumOf(body, name, labels) - sumOf(before, name, labels);
    assert.equal(delta('pipelines_started_total', { mode: 'local' }), 1, 'one pipeline started, in local mode');
    assert.equal(delta('pipelines_ended_total'), 1, 'one pipeline ended');
    assert.equal(delta('pipelines_ended_total', { status: 'COMPLETED' }), 1, 'as COMPLETED');
    for (const phase of ['SPAWN', 'RUN', 'REPORT', 'ORCHESTRATE']) {
      assert.equal(delta('pipeline_phase_duration_seconds_count', { phase }), 1, `one ${phase} phase measured`);
    }
    assert.ok(delta('pipeline_phase_duration_seconds_sum', { phase: 'ORCHESTRATE' }) > 0, 'ORCHESTRATE took some time');
    assert.equal(delta('pipeline_consensus_rounds_count'), 1, 'one orchestration reached consensus');
    assert.equal(delta('pipeline_consensus_rounds_sum'), result.rounds, `in ${result.rounds} rounds`);

    const calls = h.ledger.calls(pipelineId).length;
    assert.ok(calls >= 4, `the ledger has the pipeline's calls (${calls})`);
    const simulator = { model: LOCAL_MODEL };
    assert.equal(delta('llm_calls_total', { ...simulator, outcome: 'ok' }), calls, 'one answered call counted per ledger row');
    assert.equal(delta('llm_calls_total', simulator), calls, 'and no failed one');
    assert.equal(delta('llm_call_duration_seconds_count', simulator), calls, 'each call timed once');
    for (const role of ['alpha', 'beta']) assert.ok(delta('llm_calls_total', { ...simulator, role }) > 0, `${role} calls labelled by role`);
    assert.equal(
      delta('llm_tokens_total', simulator),
      h.ledger.calls(pipelineId).reduce((a, c) => a + c.promptTokens + c.completionTokens, 0),
      'tokens as the ledger has them',
    );
    assert.ok(delta('outbox_lag_seconds_count') >= 10, 'each event new to the ledger has its lag measured');
  });

  test('through the fake OpenAI server: every HTTP call counted once with its outcome, tokens, cost; models bounded; breaker closed', async () => {
    const before = await scrape(workerUrl);
    fake.reset();
    // One research call answers 500: the agent counts it and tries again, a second call.
    fake.addFault({ kind: 'status', status: 500, match: 'Task: research', times: 1 });
    const handle = await h.start({ mode: 'openrouter', model: 'openai/gpt-4o-mini', models: { beta: UNLISTED_MODEL } });
    const pipelineId = pipelineIdFromWorkflowId(handle.workflowId);
    pipelineIds.push(pipelineId);
    const result = await handle.result();
    assert.equal(result.status, 'COMPLETED');
    let body = '';
    await waitFor(
      'pipeline_finished counted',
      async () => sumOf((body = await scrape(workerUrl)), 'pipelines_ended_total') > sumOf(before, 'pipelines_ended_total'),
      20_000,
    );
    const delta = (name: string, labels: Record<string, string> = {}) => sumOf(body, name, labels) - sumOf(before, name, labels);

    const requests = fake.completions();
    const answered = requests.filter((r) => r.status === 200);
    const usage = answered.map((r) => (r.response as { usage: { prompt_tokens: number; completion_tokens: number; cost: number } }).usage);
    const byModel = (model: string) => requests.filter((r) => (r.body as { model?: string }).model === model).length;
    assert.equal(delta('pipelines_started_total', { mode: 'openrouter' }), 1);
    assert.equal(delta('llm_calls_total'), requests.length, `every provider request counted once (${requests.length})`);
    assert.equal(delta('llm_calls_total', { outcome: 'server' }), 1, 'the 500 counted as a server error');
    assert.equal(delta('llm_calls_total', { outcome: 'ok' }), answered.length, 'the answered calls counted as ok');
    assert.equal(delta('llm_calls_total', { outcome: 'server', task: 'research' }), 1, 'with its task');
    assert.equal(delta('llm_calls_total', { model: 'openai/gpt-4o-mini' }), byModel('openai/gpt-4o-mini'), 'an allowed model is its own label');
    assert.ok(byModel(UNLISTED_MODEL) > 0, 'BETA called the unlisted model');
    assert.equal(delta('llm_calls_total', { model: 'other' }), byModel(UNLISTED_MODEL), 'a model off the allow-list is "other"');
    assert.ok(!body.includes(UNLISTED_MODEL), 'the unlisted name is not a label');
    assert.equal(h.ledger.transcript(pipelineId, 0, 1000, 50_000_000).total, requests.length, 'as many calls as transcripts in the ledger');

    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    assert.equal(delta('llm_tokens_total', { kind: 'prompt' }), sum(usage.map((u) => u.prompt_tokens)), 'prompt tokens as reported');
    assert.equal(delta('llm_tokens_total', { kind: 'completion' }), sum(usage.map((u) => u.completion_tokens)), 'completion tokens as reported');
    assert.ok(Math.abs(delta('llm_cost_usd_total') - sum(usage.map((u) => u.cost))) < 1e-9, 'the cost the provider reported');
    assert.equal(sumOf(body, 'llm_breaker_state', { state: 'closed' }), 1, 'the breaker is closed');
    assert.equal(sumOf(body, 'llm_breaker_state', { state: 'open' }), 0);
  });

  test('the API reports pipelines waiting at REPORT and the oldest wait', async () => {
    const handle = await h.start({ mode: 'local', autoContinue: false });
    pipelineIds.push(pipelineIdFromWorkflowId(handle.workflowId));
    await h.waitForStatus(handle, 'REPORT');
    let body = '';
    await waitFor('the API sees one pipeline at REPORT', async () => sumOf((body = await scrape(apiUrl)), 'pipelines_waiting_report') === 1, 20_000);
    const seen = Date.now();
    await new Promise((r) => setTimeout(r, 1500));
    body = await scrape(apiUrl);
    const wait = sumOf(body, 'pipeline_report_oldest_wait_seconds');
    assert.ok(wait >= 1.4, `it has waited since it entered REPORT (${wait}s)`);
    assert.ok(wait < (Date.now() - seen) / 1000 + 60, `not since some other time (${wait}s)`);

    await handle.executeUpdate(continueUpdate, { args: [{}] });
    assert.equal((await handle.result()).status, 'COMPLETED');
    await waitFor('none waits any more', async () => sumOf((body = await scrape(apiUrl)), 'pipelines_waiting_report') === 0, 20_000);
    assert.equal(sumOf(body, 'pipeline_report_oldest_wait_seconds'), 0);
    assert.equal((await handle.query(statusQuery)).status, 'COMPLETED');
  });

  test('the SDK exporter serves Temporal worker series, and no body carries a pipeline id', async () => {
    const sdk = await scrape(sdkUrl);
    const names = [...new Set(parseSamples(sdk).map((x) => x.name))].join(' ');
    assert.ok(hasSeries(sdk, 'temporal_workflow_completed_total'), `workflow completions; the SDK has: ${names}`);
    assert.ok(hasSeries(sdk, 'temporal_activity_execution_latency_seconds_count'), `activity latencies, in seconds; the SDK has: ${names}`);
    const bodies = [await scrape(workerUrl), sdk, await scrape(apiUrl)];
    for (const id of pipelineIds)
      assert.ok(
        bodies.every((b) => !b.includes(id)),
        `pipeline ${id} is no label`,
      );
    assert.ok(
      bodies.every((b) => !b.includes(KEY)),
      'the key is nowhere',
    );
  });

  test('promtool check metrics accepts the worker, SDK and API bodies', async (t) => {
    const bin = findPromtool();
    if (!bin) return t.skip(PROMTOOL_MISSING);
    for (const [what, url] of [
      ['worker', workerUrl],
      ['SDK', sdkUrl],
      ['API', apiUrl],
    ] as const) {
      const r = promtool(bin, ['check', 'metrics'], await scrape(url));
      assert.equal(r.status, 0, `promtool check metrics on the ${what}'s /metrics:\n${r.output}`);
      assert.equal(r.output, '', `no lint problem in the ${what}'s series:\n${r.output}`);
    }
  });

  test('the shipped dashboard and alert rules read only series that the worker, the SDK and the API serve', async () => {
    const served = new Set<string>();
    for (const url of [workerUrl, sdkUrl, apiUrl]) for (const name of declaredNames(await scrape(url))) served.add(name);
    const missing = shippedQueries().flatMap(({ where, expr }) => metricNames(expr).flatMap((name) => (served.has(name) ? [] : [`${where}: ${name}`])));
    assert.deepEqual(missing, [], 'series no process serves');
  });
});
