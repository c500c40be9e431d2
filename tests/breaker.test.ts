import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { Redis } from 'ioredis';
import { OpenAiProvider } from '../agents/openaiProvider';
import { ProviderError } from '../agents/provider';
import { BreakerOpenError, breakerKeys, breakerName, CircuitBreaker, type BreakerOptions } from '../lib/breaker';
import { connectRedis } from '../lib/redis';
import { startFakeLlm } from '../devstack/fakeLlm';

// The shared circuit breaker on real Redis, with two breaker instances on two connections standing
// for two workers. Each test uses its own breaker name, so suites running at once do not meet.

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
let workerA: Redis;
let workerB: Redis;
const names: string[] = [];

before(async () => {
  workerA = await connectRedis(REDIS_URL, { name: 'breaker-test-a' });
  workerB = await connectRedis(REDIS_URL, { name: 'breaker-test-b' });
});
after(async () => {
  for (const n of names) await workerA.del(...breakerKeys(n));
  workerA.disconnect();
  workerB.disconnect();
});

/** The same breaker as seen by two workers. */
function pair(opts: Partial<BreakerOptions> = {}): [CircuitBreaker, CircuitBreaker] {
  const name = `test-${randomUUID()}`;
  names.push(name);
  const o: BreakerOptions = { name, failures: 3, cooldownMs: 60_000, ...opts };
  return [new CircuitBreaker(workerA, o), new CircuitBreaker(workerB, o)];
}

const outage = () => new ProviderError('LLM provider answered 503', 'server', 503);

async function fail(b: CircuitBreaker): Promise<void> {
  await b.failure(await b.before());
}

async function openError(b: CircuitBreaker): Promise<BreakerOpenError> {
  const err = await b.before().then(
    () => assert.fail('the breaker should be open'),
    (e: unknown) => e,
  );
  assert.ok(err instanceof BreakerOpenError);
  return err;
}

/** Waits (Redis's clock) until the cooldown is over; bounded, so a broken breaker fails the test. */
async function untilHalfOpen(b: CircuitBreaker): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await b.state()).state !== 'half_open') {
    if (Date.now() > deadline) assert.fail('the breaker never became half-open');
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('circuit breaker shared through Redis', () => {
  test('opens after N consecutive failures across workers, then fails fast on every worker', async () => {
    const [a, b] = pair({ failures: 3, cooldownMs: 60_000 });
    await fail(a);
    await fail(b);
    assert.deepEqual(await a.state(), { state: 'closed', failures: 2, openedUntil: null });
    await fail(a);
    const state = await b.state();
    assert.equal(state.state, 'open');
    assert.ok(state.openedUntil! > Date.now() - 5_000);
    for (const w of [a, b]) {
      const err = await openError(w);
      // What the activity turns into a retryable failure whose nextRetryDelay waits out the cooldown.
      assert.equal(err.kind, 'circuit_open');
      assert.equal(err.retryable, true);
      assert.ok(err.retryAfterMs! > 0 && err.retryAfterMs! <= 60_000, `retryAfterMs ${err.retryAfterMs}`);
    }
  });

  test('a key that cannot be read (Vault down) does not count against the provider', async () => {
    const [a] = pair();
    const vaultDown = new ProviderError('the LLM API key is not available: Vault is unreachable', 'network', undefined, undefined, false);
    for (let i = 0; i < 5; i++)
      await assert.rejects(
        a.run(() => Promise.reject(vaultDown)),
        /Vault is unreachable/,
      );
    assert.equal((await a.state()).state, 'closed');
    assert.equal((await a.state()).failures, 0);
  });

  test('a success resets the count: only consecutive failures open it', async () => {
    const [a, b] = pair({ failures: 3 });
    await fail(a);
    await fail(b);
    await b.success(await b.before());
    await fail(a);
    await fail(b);
    assert.deepEqual(await a.state(), { state: 'closed', failures: 2, openedUntil: null });
  });

  test('a call let through before it opened and succeeding after does not close it: the cooldown holds', async () => {
    // Two agents retrying on the same backoff: one's call fails (the Nth failure) while the other's,
    // let through a moment earlier, is still on its way, and then succeeds.
    const [a, b] = pair({ failures: 3, cooldownMs: 60_000 });
    await fail(a);
    await fail(b);
    const inFlight = await b.before();
    assert.equal(inFlight.probe, false);
    await fail(a);
    const opened = await a.state();
    assert.equal(opened.state, 'open');
    await b.success(inFlight);
    assert.deepEqual(await a.state(), opened, 'still open, same cooldown');
    await openError(a);
    await openError(b);
    // While closed a success still resets the count (see above); once open only the probe closes it.
  });

  test('after the cooldown exactly one worker probes; its failure reopens, its success closes', async () => {
    const [a, b] = pair({ failures: 2, cooldownMs: 1_000 });
    await fail(a);
    await fail(b);
    const opened = await a.state();
    await untilHalfOpen(a);

    const permits = await Promise.allSettled([a.before(), b.before(), a.before(), b.before()]);
    const probes = permits.filter((p) => p.status === 'fulfilled');
    assert.equal(probes.length, 1, 'one probe while half-open');
    assert.equal(probes[0]!.status === 'fulfilled' && probes[0]!.value.probe, true);
    for (const p of permits.filter((x) => x.status === 'rejected')) assert.ok((p as PromiseRejectedResult).reason instanceof BreakerOpenError);

    await a.failure((probes[0] as PromiseFulfilledResult<Awaited<ReturnType<CircuitBreaker['before']>>>).value);
    // Reopened for a new cooldown (not asserted as 'open': on a loaded machine 1 s may pass already).
    const reopened = await b.state();
    assert.notEqual(reopened.state, 'closed');
    assert.ok(reopened.openedUntil! >= opened.openedUntil! + 1_000, 'a failed probe starts a new cooldown');

    await untilHalfOpen(b);
    const probe = await b.before();
    assert.equal(probe.probe, true);
    await b.success(probe);
    assert.deepEqual(await a.state(), { state: 'closed', failures: 0, openedUntil: null });
    assert.equal((await a.before()).probe, false);
    assert.equal((await b.before()).probe, false);
  });

  test('each transition is told once, to the worker that made it (the worker metrics count them)', async () => {
    const seen: string[][] = [[], []];
    const [a, b] = pair({ failures: 2, cooldownMs: 1_000 });
    const [ta, tb] = [a, b].map((w, i) => new CircuitBreaker(i ? workerB : workerA, { ...w.opts, onTransition: (to) => seen[i]!.push(to) }));
    await fail(ta!);
    assert.deepEqual(seen, [[], []], 'one failure: still closed');
    await fail(tb!);
    assert.deepEqual(seen, [[], ['open']], 'the failure that opened it');
    // A call let through before it opened, failing now.
    await ta!.failure({ probe: false, token: 'in-flight' });
    assert.deepEqual(seen[0], [], 'a failure while open changes nothing');
    await untilHalfOpen(ta!);
    const probe = await ta!.before();
    assert.deepEqual(seen[0], ['half_open'], 'the probe let through');
    await ta!.success(probe);
    assert.deepEqual(seen[0], ['half_open', 'closed']);
    await tb!.success(await tb!.before());
    assert.deepEqual(seen[1], ['open'], 'a success while closed is no transition');
  });

  test('a probe that ends without a verdict frees the lease for the next caller', async () => {
    const [a, b] = pair({ failures: 1, cooldownMs: 1_000 });
    await fail(a);
    await untilHalfOpen(a);
    await assert.rejects(
      a.run(() => Promise.reject(new Error('cancelled'))),
      /cancelled/,
    );
    assert.equal((await b.before()).probe, true);
  });

  test('each provider endpoint has its own breaker', async () => {
    const [openai] = pair({ failures: 1 });
    const local = new CircuitBreaker(workerB, { ...openai.opts, name: `${openai.opts.name}-other` });
    names.push(local.opts.name);
    await fail(openai);
    await openError(openai);
    assert.equal((await local.before()).probe, false);
    assert.equal(breakerName('https://openrouter.ai/api/v1'), 'openrouter.ai');
    assert.equal(breakerName('http://localhost:11434/v1'), 'localhost:11434');
  });

  test('wrapping a provider: provider outages open it, and then no request reaches the provider', async () => {
    const fake = await startFakeLlm();
    try {
      const [a] = pair({ failures: 2 });
      const llm = a.wrap(new OpenAiProvider({ baseURL: fake.url, apiKey: async () => 'sk-test', structuredOutput: 'json_schema' }));
      const call = () =>
        llm.complete(
          { pipelineId: 'p', role: 'alpha', task: 'research', objective: 'o', round: 0 },
          { mode: 'openrouter', model: 'fake/model', scenario: 'consensus', latencyMs: 0 },
          { attempt: 1 },
        );
      // Bad output is the model's problem, not an outage: it does not count.
      fake.addFault({ kind: 'malformed', times: 4 });
      await assert.rejects(call(), (e) => e instanceof ProviderError && e.kind === 'invalid_output');
      await assert.rejects(call(), (e) => e instanceof ProviderError && e.kind === 'invalid_output');
      assert.equal((await a.state()).failures, 0);
      fake.addFault({ kind: 'status', status: 503, times: 2 });
      await assert.rejects(call(), (e) => e instanceof ProviderError && e.kind === 'server');
      await assert.rejects(call(), (e) => e instanceof ProviderError && e.kind === 'server');
      const seen = fake.completions().length;
      await assert.rejects(call(), (e) => e instanceof BreakerOpenError);
      assert.equal(fake.completions().length, seen, 'failed fast, without calling the provider');
    } finally {
      await fake.close();
    }
  });

  test('without Redis the breaker lets calls through rather than stopping every pipeline', async () => {
    const offline = new Redis({ host: '127.0.0.1', port: 1, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
    offline.on('error', () => undefined);
    try {
      const b = new CircuitBreaker(offline, { name: 'unreachable', failures: 1, cooldownMs: 60_000 });
      assert.equal(await b.run(async () => 'answered'), 'answered');
      await assert.rejects(
        b.run(() => Promise.reject(outage())),
        /503/,
      );
      await assert.rejects(b.state());
    } finally {
      offline.disconnect();
    }
  });
});
