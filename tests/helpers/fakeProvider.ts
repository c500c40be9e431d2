import { startFakeLlm, type FakeLlm } from '../../devstack/fakeLlm';
import { breakerKeys, breakerName } from '../../lib/breaker';
import { startHarness, type Harness, type HarnessOptions } from './harness';

// A worker in openrouter mode against the fake OpenAI-compatible server (devstack/fakeLlm.ts), for the
// tests of real LLM calls. Each test file passes a key of its own, recognisable in what it checks.

/** The environment of a worker in openrouter mode against `fake`; a generous breaker unless the test sets one. */
export const openrouterEnv = (key: string, fake: FakeLlm, env: Record<string, string> = {}): Record<string, string> => ({
  OPENROUTER_API_KEY: key,
  OPENROUTER_BASE_URL: fake.url,
  BREAKER_FAILURES: '1000',
  ...env,
});

/** Breaker state outlives a run in Redis (a day after a failure); a port reused by a later run must start closed. */
export async function resetBreaker(h: Harness, fake: FakeLlm): Promise<void> {
  await h.redis.del(...breakerKeys(breakerName(fake.url)));
}

/** A fake and a harness for one test, closed after it however it ends. */
export async function withFakeProvider(
  key: string,
  name: string,
  env: Record<string, string>,
  fn: (fake: FakeLlm, h: Harness) => Promise<void>,
  opts: Omit<HarnessOptions, 'env'> = {},
): Promise<void> {
  const fake = await startFakeLlm({ apiKey: key });
  let h: Harness | undefined;
  try {
    h = await startHarness(name, { ...opts, env: openrouterEnv(key, fake, env) });
    await resetBreaker(h, fake);
    await fn(fake, h);
  } finally {
    await h?.stop();
    await fake.close();
  }
}
