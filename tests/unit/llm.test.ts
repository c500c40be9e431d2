import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { retryAfterMs } from '../../agents/openaiErrors';
import { OpenAiProvider, structuredOutputFor, type OpenAiProviderOptions } from '../../agents/openaiProvider';
import { ProviderError, type AgentRequest, type AgentTask, type CallContext, type Completion } from '../../agents/provider';
import type { LlmSettings, Role } from '../../common/types';
import { startFakeLlm, type FakeLlm, type RecordedRequest } from '../../devstack/fakeLlm';

// The real openai client against the fake OpenAI-compatible server: what comes back, what is sent,
// and how each provider failure is classified for the retry decision. No Temporal here.

const KEY = 'sk-or-v1-FAKEKEY0123456789abcdef';
const settings: LlmSettings = { mode: 'openrouter', model: 'fake/model', scenario: 'consensus', latencyMs: 0 };
const ctx = (signal?: AbortSignal): CallContext => ({ attempt: 1, signal });

let fake: FakeLlm;
before(async () => {
  fake = await startFakeLlm();
});
after(() => fake.close());
beforeEach(() => fake.reset());

const provider = (o: Partial<OpenAiProviderOptions> = {}) =>
  new OpenAiProvider({ baseURL: fake.url, apiKey: async () => KEY, structuredOutput: 'json_schema', timeoutMs: 10_000, ...o });

function request(task: AgentTask, extra: Partial<AgentRequest> = {}): AgentRequest {
  const role: Role = task === 'mediate' ? 'gamma' : task === 'evaluate' || task === 'synthesis' ? 'beta' : 'alpha';
  return { pipelineId: 'p1', role, task, objective: 'Design a caching strategy', round: 1, ...extra };
}

/** The provider error a call fails with; fails the test if it succeeds or throws something else. */
async function providerError(p: Promise<Completion>): Promise<ProviderError> {
  const err = await p.then(
    () => assert.fail('the call should have failed'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
  assert.ok(!err.message.includes(KEY) && !err.message.includes('FAKEKEY'), `the key leaked into: ${err.message}`);
  return err;
}

const body = (r: RecordedRequest) =>
  r.body as {
    model: string;
    messages: { role: string; content: string }[];
    response_format?: { type: string; json_schema?: { name: string } };
    usage?: unknown;
  };

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('OpenAI-compatible provider: answers', () => {
  test('a provider that reports no usage is charged an estimate from the prompt and the answer: the token budget holds', async () => {
    fake.addFault({ kind: 'content', content: JSON.stringify({ summary: 'x'.repeat(800) }), noUsage: true });
    const c = await provider().complete(request('research'), settings, ctx());
    assert.equal((fake.completions()[0]!.response as { usage?: unknown }).usage, undefined, 'the fake reported none');
    assert.ok(c.usage.completionTokens >= 200, `the 800-character answer is charged (${c.usage.completionTokens} tokens)`);
    const sent = (fake.completions()[0]!.body as { messages: { content: string }[] }).messages.map((m) => m.content).join('\n');
    assert.equal(c.usage.promptTokens, Math.ceil(sent.length / 4), 'and the prompt, at about four characters a token');
    assert.equal(c.usage.totalTokens, c.usage.promptTokens + c.usage.completionTokens);
  });

  test('a call returns the parsed answer with the usage and cost the provider reported', async () => {
    const c = await provider().complete(request('research'), settings, ctx());
    assert.match(c.answer.summary ?? '', /Design a caching strategy/);
    const [sent] = fake.completions();
    const usage = (sent!.response as { usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number; cost: number } }).usage;
    assert.deepEqual(c.usage, {
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      totalTokens: usage.total_tokens,
      costUsd: usage.cost,
    });
    assert.ok(c.usage.totalTokens > 0 && (c.usage.costUsd ?? 0) > 0);
    assert.equal(c.model, 'fake/model');
    assert.equal(fake.completions().length, 1);
  });

  test('sends the key, the app headers and the pipeline model', async () => {
    await provider({ appUrl: 'https://example.test/app', appTitle: 'governance tests' }).complete(request('research'), settings, ctx());
    const [sent] = fake.completions();
    assert.equal(sent!.headers.authorization, `Bearer ${KEY}`);
    assert.equal(sent!.headers['http-referer'], 'https://example.test/app');
    assert.equal(sent!.headers['x-title'], 'governance tests');
    assert.equal(body(sent!).model, 'fake/model');
  });

  test('a role can have its own model', async () => {
    const withRoles: LlmSettings = { ...settings, models: { beta: 'fake/reviewer' } };
    await provider().complete(request('evaluate', { proposalId: 'P1' }), withRoles, ctx());
    await provider().complete(request('propose'), withRoles, ctx());
    assert.deepEqual(
      fake.completions().map((r) => body(r).model),
      ['fake/reviewer', 'fake/model'],
    );
  });

  test('every task asks for its JSON schema and gets an answer that follows it', async () => {
    const p = provider();
    const proposals = [{ id: 'P7', title: 'two-tier cache', complexity: 0.4, author: 'alpha' as const }];
    const research = await p.complete(request('research'), settings, ctx());
    const synthesis = await p.complete(request('synthesis'), settings, ctx());
    const proposed = await p.complete(request('propose'), settings, ctx());
    const evaluated = await p.complete(request('evaluate', { proposals, proposalId: 'P7' }), settings, ctx());
    const mediated = await p.complete(request('mediate', { proposals, proposalId: 'P7', gammaReason: 'COMPLEXITY' }), settings, ctx());
    assert.deepEqual(
      fake.completions().map((r) => [body(r).response_format?.type, body(r).response_format?.json_schema?.name]),
      ['research', 'synthesis', 'propose', 'evaluate', 'mediate'].map((t) => ['json_schema', `agent_${t}`]),
    );
    assert.ok(research.answer.summary && synthesis.answer.summary);
    const complexity = proposed.answer.proposal?.complexity ?? -1;
    assert.ok(proposed.answer.proposal?.title && complexity >= 0 && complexity <= 1);
    assert.equal(evaluated.answer.vote?.proposalId, 'P7');
    assert.equal(typeof evaluated.answer.vote?.approve, 'boolean');
    assert.equal(mediated.answer.vote?.proposalId, 'P7');
    assert.ok(Array.isArray(mediated.answer.subproblems));
  });

  test('models without structured outputs get the format in the prompt instead', async () => {
    assert.equal(structuredOutputFor('openai/gpt-4o-mini'), 'json_schema');
    assert.equal(structuredOutputFor('meta-llama/llama-3.1-8b-instruct'), 'prompt');
    const c = await provider({ structuredOutput: 'auto' }).complete(request('propose'), { ...settings, model: 'meta-llama/llama-3.1-8b-instruct' }, ctx());
    const [sent] = fake.completions();
    assert.equal(body(sent!).response_format, undefined);
    assert.match(body(sent!).messages.at(-1)!.content, /Answer with one JSON object .*"proposal"/);
    assert.ok(c.answer.proposal?.title);
  });

  test('the cost is asked for only from OpenRouter, unless configured', async () => {
    await provider().complete(request('research'), settings, ctx());
    await provider({ usageAccounting: true }).complete(request('research'), settings, ctx());
    assert.deepEqual(
      fake.completions().map((r) => body(r).usage),
      [undefined, { include: true }],
    );
  });
});

describe('OpenAI-compatible provider: repair', () => {
  test('an answer that is not JSON gets one repair request saying what was wrong', async () => {
    fake.addFault({ kind: 'malformed' });
    const c = await provider().complete(request('propose'), settings, ctx());
    assert.ok(c.answer.proposal?.title);
    const [first, second] = fake.completions();
    assert.equal(fake.completions().length, 2);
    const messages = body(second!).messages;
    assert.equal(messages.at(-2)!.role, 'assistant');
    assert.match(messages.at(-2)!.content, /unfinished/, 'the model sees its own bad answer');
    assert.match(messages.at(-1)!.content, /could not be used: .*not JSON/);
    const reported = [first, second].map((r) => (r!.response as { usage: { total_tokens: number } }).usage.total_tokens);
    assert.equal(c.usage.totalTokens, reported[0]! + reported[1]!, 'both requests count');
  });

  test('an answer still breaking its schema after the repair is invalid_output, not retried', async () => {
    fake.addFault({ kind: 'schema_invalid', times: 2 });
    const err = await providerError(provider().complete(request('evaluate', { proposalId: 'P1' }), settings, ctx()));
    assert.equal(err.kind, 'invalid_output');
    assert.equal(err.retryable, false);
    assert.match(err.message, /breaks its schema.*after one repair/);
    assert.equal(fake.completions().length, 2, 'exactly one repair request');
  });
});

describe('OpenAI-compatible provider: failures', () => {
  test('429 is rate_limited, retryable after the Retry-After the provider sent', async () => {
    fake.addFault({ kind: 'status', status: 429, retryAfter: 7 });
    const err = await providerError(provider().complete(request('research'), settings, ctx()));
    assert.deepEqual([err.kind, err.retryable, err.status, err.retryAfterMs], ['rate_limited', true, 429, 7000]);
    assert.equal(fake.completions().length, 1, 'the client itself does not retry: Temporal does');
  });

  test('500 and 503 are retryable server errors, and so is an in-body upstream error', async () => {
    fake.addFault({ kind: 'status', status: 500 }, { kind: 'status', status: 503 }, { kind: 'body_error', code: 502 });
    for (const status of [500, 503, 502]) {
      const err = await providerError(provider().complete(request('research'), settings, ctx()));
      assert.deepEqual([err.kind, err.retryable, err.status], ['server', true, status]);
    }
  });

  test('401 is auth, not retryable, and the key the provider echoed is not in the message', async () => {
    fake.addFault({ kind: 'status', status: 401 });
    const err = await providerError(provider().complete(request('research'), settings, ctx()));
    assert.deepEqual([err.kind, err.retryable, err.status], ['auth', false, 401]);
    assert.ok(JSON.stringify(fake.completions()[0]!.response).includes(KEY), 'the fake echoes the key, as OpenAI does');
    assert.match(err.message, /Incorrect API key provided: \[redacted\]/);
  });

  test('400, 403, 404 and 422 are not retryable; 408 and 409 are', async () => {
    const expected = { 400: 'bad_request', 403: 'forbidden', 404: 'not_found', 422: 'unprocessable', 408: 'timeout', 409: 'conflict' } as const;
    for (const [status, kind] of Object.entries(expected)) {
      fake.addFault({ kind: 'status', status: Number(status) });
      const err = await providerError(provider().complete(request('research'), settings, ctx()));
      assert.deepEqual([err.kind, err.retryable], [kind, Number(status) >= 408 && Number(status) <= 409]);
    }
  });

  test('an answer slower than the request timeout is a retryable timeout', async () => {
    fake.addFault({ kind: 'delay', ms: 5_000 });
    const err = await providerError(provider({ timeoutMs: 300 }).complete(request('research'), settings, ctx()));
    assert.deepEqual([err.kind, err.retryable], ['timeout', true]);
    await until(() => fake.completions()[0]?.aborted === true, 'the fake to see the request abandoned');
  });

  test('a dropped connection is a retryable network error', async () => {
    fake.addFault({ kind: 'disconnect' });
    const err = await providerError(provider().complete(request('research'), settings, ctx()));
    assert.deepEqual([err.kind, err.retryable], ['network', true]);
  });

  test('an unreachable endpoint is a retryable network error', async () => {
    const gone = await startFakeLlm();
    const url = gone.url;
    await gone.close();
    const err = await providerError(provider({ baseURL: url }).complete(request('research'), settings, ctx()));
    assert.deepEqual([err.kind, err.retryable], ['network', true]);
  });

  test("the caller's abort signal cancels the request in flight, with the caller's reason", async () => {
    fake.addFault({ kind: 'delay', ms: 30_000 });
    const controller = new AbortController();
    const call = provider().complete(request('research'), settings, ctx(controller.signal));
    await until(() => fake.completions().length === 1, 'the request to reach the fake');
    const reason = new Error('activity cancelled');
    controller.abort(reason);
    await assert.rejects(call, (err) => err === reason);
    await until(() => fake.completions()[0]!.aborted, 'the fake to see the connection closed');
  });

  test('an already aborted signal makes no request', async () => {
    const controller = new AbortController();
    controller.abort(new Error('cancelled before'));
    await assert.rejects(provider().complete(request('research'), settings, ctx(controller.signal)), /cancelled before/);
    assert.equal(fake.completions().length, 0);
  });

  test('a key that cannot be read (Vault down or denied) is a provider error, retryable only when the store is down', async () => {
    const down = Object.assign(new Error('Vault at http://vault is unreachable'), { retryable: true });
    const denied = Object.assign(new Error('Vault denied reading secret/data/api-keys/openrouter (403)'), { retryable: false });
    const unavailable = await providerError(provider({ apiKey: () => Promise.reject(down) }).complete(request('research'), settings, ctx()));
    assert.deepEqual([unavailable.kind, unavailable.retryable], ['network', true]);
    const refused = await providerError(provider({ apiKey: () => Promise.reject(denied) }).complete(request('research'), settings, ctx()));
    assert.deepEqual([refused.kind, refused.retryable], ['not_configured', false]);
    assert.match(refused.message, /API key is not available: Vault denied/);
    assert.equal(fake.completions().length, 0);
  });

  test('Retry-After in seconds, as a date, or in ms (OpenAI) all become retryAfterMs', () => {
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '3' })), 3000);
    assert.equal(retryAfterMs(new Headers({ 'retry-after-ms': '250', 'retry-after': '3' })), 250);
    const date = retryAfterMs(new Headers({ 'retry-after': new Date(Date.now() + 60_000).toUTCString() }))!;
    assert.ok(date > 30_000 && date <= 60_000, `got ${date}`);
    assert.equal(retryAfterMs(new Headers({ 'retry-after': '86400' })), 600_000, 'capped at 10 minutes');
    assert.equal(retryAfterMs(new Headers()), undefined);
  });
});

describe('fake LLM over HTTP (npm run fake-llm)', () => {
  test('faults are queued with POST /_fault and requests listed by GET /_requests', async () => {
    const base = fake.url.replace(/\/v1$/, '');
    const queued = await fetch(`${base}/_fault`, { method: 'POST', body: JSON.stringify({ kind: 'status', status: 503, match: 'ONLY-THIS' }) });
    assert.equal(queued.status, 200);
    assert.equal((await fetch(`${fake.url}/models`)).status, 200);
    await provider().complete(request('research'), settings, ctx());
    const err = await providerError(provider().complete(request('research', { objective: 'ONLY-THIS objective' }), settings, ctx()));
    assert.equal(err.status, 503);
    const { requests } = (await (await fetch(`${base}/_requests`)).json()) as { requests: RecordedRequest[] };
    assert.deepEqual(
      requests.map((r) => [r.method, r.path, r.status]),
      [
        ['GET', '/v1/models', 200],
        ['POST', '/v1/chat/completions', 200],
        ['POST', '/v1/chat/completions', 503],
      ],
    );
    const bad = await fetch(`${base}/_fault`, { method: 'POST', body: JSON.stringify({ kind: 'explode' }) });
    assert.equal(bad.status, 400);
  });
});
