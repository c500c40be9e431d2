import { SpanKind, trace } from '@opentelemetry/api';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';
import { createLogger } from '../lib/logger';
import { setupTracing, tracing } from '../lib/tracing';
import { installRuntimeLogger } from '../workers/runtime';
import { startApi, type Api } from './helpers/api';
import { startHarness, type Harness } from './helpers/harness';
import { startOtlpReceiver, type OtlpReceiver, type ReceivedSpan } from './helpers/otlp';

// Traces end to end (README: Operations › Traces): POST /api/spawn over HTTP, the pipeline workflow,
// an agent child workflow, its LLM activity and the openai client's HTTP request to the fake
// OpenAI-compatible server, as one trace whose spans reach a local OTLP/HTTP receiver, each the child
// of the one before. And every log line of the pipeline (the API's request lines, the workflows' and
// the activities') names that trace; no secret is in any span.

const KEY = 'sk-or-test-TRACED-SECRET-9f8e7d';
let otlp: OtlpReceiver;
let fake: FakeLlm;
let h: Harness;
let app: Api;
let apiUrl: string;
const lines: Record<string, unknown>[] = [];
// Everything the worker (SDK-routed workflow and activity logs) and the API write, parsed.
const capture = { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) };

before(async () => {
  otlp = await startOtlpReceiver();
  // Before the workers and the API: their interceptors, sink and hooks use the provider installed here.
  assert.ok(setupTracing({ OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url, OTEL_SERVICE_NAME: undefined }, 'agent-governance-test').enabled);
  // The worker's logger: the SDK routes workflow and activity logs here (the harness's own routing is then a no-op).
  installRuntimeLogger(createLogger('worker', 'debug', capture));
  fake = await startFakeLlm({ apiKey: KEY });
  h = await startHarness('tracing', { env: { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' } });
  app = await startApi(h, { logger: createLogger('api', 'info', capture) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
});
after(async () => {
  await app?.close();
  await h?.stop();
  await fake?.close();
  await tracing().shutdown();
  await otlp?.close();
});

/** The spans received, for a failure's message: name, trace and parent. */
const summary = (spans: ReceivedSpan[]) =>
  spans.map((s) => `${s.name} ${s.traceId.slice(0, 6)}/${s.spanId.slice(0, 4)}<${s.parentSpanId.slice(0, 4)}`).join('; ');

async function until<T>(what: string | (() => string), fn: () => Promise<T | undefined> | T | undefined, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
}

describe('traces', () => {
  test('one trace from POST /api/spawn through the workflows and the LLM activity to the provider HTTP call, parent by parent', async () => {
    const res = await fetch(`${apiUrl}/api/spawn`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ objective: 'Design a caching strategy', mode: 'openrouter', model: 'openai/gpt-4o-mini' }),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const { workflow_id: workflowId } = (await res.json()) as { workflow_id: string };
    const pipelineId = pipelineIdFromWorkflowId(workflowId);
    const result = (await h.client.workflow.getHandle(workflowId).result()) as { status: string };
    assert.equal(result.status, 'COMPLETED');

    // Spans are batched, and the workflows' reach the processor once their activation is done.
    const spawn = await until('the spawn request span', () => otlp.spans.find((s) => s.name === 'POST /api/spawn'));
    const inTrace = () => otlp.spans.filter((s) => s.traceId === spawn.traceId);
    await until(
      () => `the pipeline run and the provider calls in the trace (received: ${summary(otlp.spans)})`,
      async () => {
        await tracing().flush();
        const names = new Set(inTrace().map((s) => s.name));
        return names.has('RunWorkflow:pipelineWorkflow') && names.has('RunWorkflow:agentWorkflow') && names.has('POST') ? true : undefined;
      },
    );
    const spans = inTrace();
    const byId = new Map(spans.map((s) => [s.spanId, s]));
    const childrenOf = (parent: ReceivedSpan, name: string) => spans.filter((s) => s.parentSpanId === parent.spanId && s.name === name);
    const one = (parent: ReceivedSpan, name: string): ReceivedSpan => {
      const found = childrenOf(parent, name);
      assert.ok(
        found.length >= 1,
        `${name} is a child of ${parent.name} (children: ${spans.filter((s) => s.parentSpanId === parent.spanId).map((s) => s.name)})`,
      );
      return found[0]!;
    };

    assert.equal(spawn.parentSpanId, '', 'the spawn request starts the trace');
    assert.equal(spawn.kind, SpanKind.SERVER + 1, 'a SERVER span (OTLP numbers kinds from 1)');
    assert.equal(spawn.attributes['http.route'], '/api/spawn');
    assert.equal(spawn.attributes['http.response.status_code'], 201);
    const start = one(spawn, 'StartWorkflow:pipelineWorkflow');
    const run = one(start, 'RunWorkflow:pipelineWorkflow');
    const childStart = one(run, 'StartChildWorkflow:agentWorkflow');
    const agent = one(childStart, 'RunWorkflow:agentWorkflow');
    // The agent's LLM activity: scheduled by the agent workflow, run on the LLM queue's worker.
    const callStart = one(agent, 'StartActivity:callAgent');
    const call = one(callStart, 'RunActivity:callAgent');
    const post = one(call, 'POST');
    assert.equal(post.kind, SpanKind.CLIENT + 1, 'a CLIENT span');
    assert.equal(post.attributes['url.full'], `${fake.url}/chat/completions`);
    assert.equal(post.attributes['http.response.status_code'], 200);

    // Every agent's calls, not only the first: each POST hangs under a RunActivity:callAgent of the trace.
    const posts = spans.filter((s) => s.name === 'POST');
    assert.ok(posts.length >= 4, `the agents' provider calls are traced (${posts.length})`);
    assert.ok(posts.every((p) => byId.get(p.parentSpanId)?.name === 'RunActivity:callAgent'));
    // The request the fake server got carried that span as its W3C traceparent.
    const sent = fake.completions().map((r) => r.headers.traceparent);
    assert.ok(sent.includes(`00-${post.traceId}-${post.spanId}-01`), `the provider got the traceparent (${sent.slice(0, 3).join(', ')})`);
    assert.deepEqual(new Set(spans.map((s) => s.service)), new Set(['agent-governance-test']));

    // Replay-safe: no span twice (a workflow replayed after eviction recreates its spans with the same ids).
    assert.equal(new Set(spans.map((s) => s.spanId)).size, spans.length, 'no span exported twice');

    // No secret in what was exported: no key, no Authorization header, no request body.
    const exported = otlp.bodies.join('\n');
    assert.ok(!exported.includes(KEY) && !exported.includes('TRACED-SECRET'), 'the key is in no span');
    assert.ok(!/authorization|bearer/i.test(exported), 'no Authorization header in any span');
    assert.ok(!exported.includes('Design a caching strategy'), 'no request body (the objective) in any span');

    // Every log line of this pipeline carries its trace: the workflows', the activities' and the API's.
    // At debug level, so that the SDK's lifecycle lines are written too. Two of them cannot: the SDK
    // writes "Workflow started" and "Activity started" before any interceptor has seen the header that
    // carries the trace (workflows/tracing.ts, workers/tracing.ts).
    const before = new Set(['Workflow started', 'Activity started']);
    const ours = lines.filter((l) => (l.pipelineId === pipelineId || l.workflowId === workflowId) && !before.has(String(l.msg)));
    assert.ok(
      ours.some((l) => l.msg === 'Workflow completed' && l.workflowType === 'pipelineWorkflow') &&
        ours.some((l) => l.msg === 'Workflow completed' && l.workflowType === 'agentWorkflow'),
      'workflow lines were written',
    );
    assert.ok(
      ours.some((l) => l.activityId !== undefined && l.msg === 'Activity completed'),
      'activity lines were written',
    );
    const untraced = ours.filter((l) => l.trace_id !== spawn.traceId);
    assert.deepEqual(
      untraced.map((l) => l.msg),
      [],
      'every line of the pipeline names its trace',
    );
    const reqId = lines.find((l) => l.msg === 'spawn' && l.pipelineId === pipelineId)?.reqId;
    const request = lines.filter((l) => reqId !== undefined && l.reqId === reqId);
    assert.deepEqual(
      request.map((l) => [l.msg, l.trace_id]),
      ['incoming request', 'spawn', 'request completed'].map((m) => [m, spawn.traceId]),
    );
    assert.ok(!lines.some((l) => JSON.stringify(l).includes('TRACED-SECRET')), 'the key is in no log line');
  });
});

describe('traces under replay', () => {
  let r: Harness;
  before(async () => {
    // No workflow cache: every activation replays the run's history from the start, so every span the
    // workflows opened earlier is made again each time.
    r = await startHarness('tracing-replay', {
      env: { OPENROUTER_API_KEY: KEY, OPENROUTER_BASE_URL: fake.url, BREAKER_FAILURES: '1000' },
      workerOptions: { maxCachedWorkflows: 0 },
    });
  });
  after(async () => r?.stop());

  test('a workflow replayed at every activation exports each of its spans once, with the same ids, parents intact', async () => {
    const tracer = trace.getTracer('tracing-test');
    const { handle, root } = await tracer.startActiveSpan('test-root', async (span) => {
      const started = await r.start({ mode: 'openrouter', model: 'openai/gpt-4o-mini' });
      span.end();
      return { handle: started, root: span.spanContext() };
    });
    assert.equal(((await handle.result()) as { status: string }).status, 'COMPLETED');
    await r.waitForAgents(handle); // their run spans end with them, just after the pipeline's
    const inTrace = () => otlp.spans.filter((s) => s.traceId === root.traceId);
    await until(
      () => `the replayed pipeline's run span (received: ${summary(inTrace())})`,
      async () => {
        await tracing().flush();
        return inTrace().some((s) => s.name === 'RunWorkflow:pipelineWorkflow') ? true : undefined;
      },
    );
    const spans = inTrace();
    const ids = new Set(spans.map((s) => s.spanId));
    assert.equal(ids.size, spans.length, 'no span exported twice');
    assert.equal(spans.filter((s) => s.name === 'RunWorkflow:pipelineWorkflow').length, 1);
    const orphans = spans.filter((s) => s.spanId !== root.spanId && !ids.has(s.parentSpanId) && s.parentSpanId !== root.spanId);
    assert.deepEqual(
      orphans.map((s) => s.name),
      [],
      "every span's parent is in the trace: the ids made again by the replays are those first sent in headers",
    );
    // As many child starts and agent runs as the history has child workflows.
    const history = await handle.fetchHistory();
    const children = (history.events ?? []).filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes).length;
    assert.ok(children >= 2);
    assert.equal(spans.filter((s) => s.name === 'StartChildWorkflow:agentWorkflow').length, children);
    assert.equal(spans.filter((s) => s.name === 'RunWorkflow:agentWorkflow').length, children);
    // Activities and local activities (a marker each) that the pipeline's history holds.
    const events = history.events ?? [];
    const scheduled =
      events.filter((e) => e.activityTaskScheduledEventAttributes).length +
      events.filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_local_activity').length;
    const pipelineRun = spans.find((s) => s.name === 'RunWorkflow:pipelineWorkflow')!;
    const starts = spans.filter((s) => s.name.startsWith('StartActivity:') && s.parentSpanId === pipelineRun.spanId);
    assert.equal(starts.length, scheduled, `one StartActivity span per activity in the pipeline's history (${starts.map((s) => s.name).join(', ')})`);
  });
});
