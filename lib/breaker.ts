import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { ProviderError, type LlmProvider } from '../agents/provider';
import type { BreakerSnapshot } from '../common/failures';

// A circuit breaker shared by every worker: its state lives in Redis, so when one provider endpoint
// is down the whole fleet stops calling it, not each worker after its own N failures. Every
// transition is one Lua script (atomic), timed by Redis's clock so workers' clocks may disagree.
//   closed    → `failures` consecutive provider failures → open for `cooldownMs`
//   open      → before() fails fast with a retryable error whose retryAfterMs waits out the cooldown
//   half_open → exactly one caller gets the probe (SET NX); its success closes, its failure reopens
// While closed, a success anywhere resets the count (the failures were not consecutive). Once open,
// only the probe's success closes it: a call let through before it opened may still end well (it was
// on its way when the other calls failed), and closing on that would end the cooldown a few
// milliseconds after it began, with every caller back on the failing provider. Keyed by provider
// (breakerName(baseURL)).

export interface BreakerOptions {
  /** Which provider this breaker guards; different endpoints must not share one. */
  name: string;
  /** Consecutive provider failures that open it (BREAKER_FAILURES). */
  failures: number;
  /** How long it stays open (BREAKER_COOLDOWN_SECONDS × 1000). */
  cooldownMs: number;
  /** How long a half-open probe holds its lease if its worker dies mid-call; above the request timeout. */
  probeLeaseMs?: number;
  /** Told of each transition this process makes (metrics): open, half_open (a probe let through), closed. */
  onTransition?: (to: 'open' | 'half_open' | 'closed') => void;
}

/** The state as activities report it (openedUntil: epoch ms, Redis's clock; null when closed). */
export type BreakerState = BreakerSnapshot;

/** What before() hands out; give it back to success(), failure() or release(). */
export interface BreakerPermit {
  probe: boolean;
  token: string;
}

/** The breaker is open: no call was made. Retryable, after retryAfterMs (the rest of the cooldown). */
export class BreakerOpenError extends ProviderError {
  constructor(name: string, retryAfterMs: number, probing: boolean) {
    const why = probing ? 'another worker is probing it' : 'after consecutive provider failures';
    super(`circuit breaker for ${name} is open (${why}); next try in ${Math.ceil(retryAfterMs / 1000)}s`, 'circuit_open', undefined, retryAfterMs);
    this.name = 'BreakerOpenError';
  }
}

/** The breaker's Redis keys: its state and its probe lease, under one hash tag (one Redis Cluster slot). */
export function breakerKeys(name: string): [string, string] {
  const base = `breaker:{${name}}`;
  return [base, `${base}:probe`];
}

/** The breaker's name for an OpenAI-compatible base URL: its host, so each endpoint has its own. */
export function breakerName(baseURL: string): string {
  return new URL(baseURL).host;
}

/** Failures that say the provider is unwell. Bad output, auth errors and cancellations do not. */
export function isProviderFailure(err: unknown): boolean {
  // A key that cannot be read (Vault down) says nothing of the provider: it must not open its breaker.
  return err instanceof ProviderError && err.fromProvider && ['server', 'timeout', 'network', 'rate_limited'].includes(err.kind);
}

const NOW = `local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)`;

// KEYS: state hash, probe key. Returns {allowed, retryAfterMs, probe}.
const BEFORE = `${NOW}
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'openedUntil') or '0')
if untilMs == 0 then return {1, 0, 0} end
if now < untilMs then return {0, untilMs - now, 0} end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {1, 0, 1} end
return {0, math.max(1, math.min(redis.call('PTTL', KEYS[2]), tonumber(ARGV[3]))), 2}`;

// ARGV: threshold, cooldownMs, keyTtlMs. A failure while open does not extend it; a failure while
// half-open (the probe's) reopens it, as the count only resets on a success, which closes it.
// Returns {failures, opened}: opened is 1 when this failure opened (or reopened) it.
const FAILURE = `${NOW}
local untilMs = tonumber(redis.call('HGET', KEYS[1], 'openedUntil') or '0')
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if failures >= tonumber(ARGV[1]) and now >= untilMs then
  redis.call('HSET', KEYS[1], 'openedUntil', string.format('%.0f', now + tonumber(ARGV[2])))
  redis.call('DEL', KEYS[2])
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return {failures, 1}
end
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {failures, 0}`;

// ARGV: 1 when the permit was the half-open probe. Closed: resets the count. Open or half-open: only
// the probe's success closes it; any other success is of a call let through before it opened, and
// changes nothing. Returns 1 when this success closed an open or half-open breaker.
const SUCCESS = `local opened = redis.call('HEXISTS', KEYS[1], 'openedUntil')
if opened == 1 and ARGV[1] ~= '1' then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
return opened`;

const RELEASE = `if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end return 1`;

const STATE = `${NOW}
local v = redis.call('HMGET', KEYS[1], 'failures', 'openedUntil')
return {tonumber(v[1] or '0'), tonumber(v[2] or '0'), now}`;

export class CircuitBreaker {
  private readonly keys: [string, string];

  constructor(
    private readonly redis: Redis,
    readonly opts: BreakerOptions,
  ) {
    this.keys = breakerKeys(opts.name);
  }

  /** Throws BreakerOpenError while open (or half-open with a probe in flight); else a permit. */
  async before(): Promise<BreakerPermit> {
    const token = randomUUID();
    let result: [number, number, number];
    try {
      result = (await this.redis.eval(BEFORE, 2, ...this.keys, token, this.probeLeaseMs(), this.opts.cooldownMs)) as [number, number, number];
    } catch {
      // Redis unreachable: calling the provider beats stopping every pipeline for a missing breaker.
      return { probe: false, token };
    }
    const [allowed, retryAfterMs, probe] = result;
    if (!allowed) throw new BreakerOpenError(this.opts.name, retryAfterMs, probe === 2);
    if (probe === 1) this.opts.onTransition?.('half_open');
    return { probe: probe === 1, token };
  }

  async success(permit: BreakerPermit): Promise<void> {
    const closed = await this.redis.eval(SUCCESS, 2, ...this.keys, permit.probe ? 1 : 0).catch(() => 0);
    if (closed === 1) this.opts.onTransition?.('closed');
  }

  async failure(_permit: BreakerPermit): Promise<void> {
    // The count expires a day after the last failure: "consecutive" does not span days of quiet.
    const keyTtlMs = Math.max(86_400_000, 2 * this.opts.cooldownMs);
    const result = (await this.redis.eval(FAILURE, 2, ...this.keys, this.opts.failures, this.opts.cooldownMs, keyTtlMs).catch(() => undefined)) as
      [number, number] | undefined;
    if (result?.[1] === 1) this.opts.onTransition?.('open');
  }

  /** Neither success nor failure (e.g. a cancelled call): frees the probe lease for another caller. */
  async release(permit: BreakerPermit): Promise<void> {
    if (permit.probe) await this.redis.eval(RELEASE, 2, ...this.keys, permit.token).catch(() => undefined);
  }

  /** For the status query. */
  async state(): Promise<BreakerState> {
    const [failures, untilMs, now] = (await this.redis.eval(STATE, 2, ...this.keys)) as [number, number, number];
    if (!untilMs) return { state: 'closed', failures, openedUntil: null };
    return { state: now < untilMs ? 'open' : 'half_open', failures, openedUntil: untilMs };
  }

  /** Runs one provider call under the breaker; errors for which `counts` is false are neutral. */
  async run<T>(fn: () => Promise<T>, counts: (err: unknown) => boolean = isProviderFailure): Promise<T> {
    const permit = await this.before();
    let result: T;
    try {
      result = await fn();
    } catch (err) {
      await (counts(err) ? this.failure(permit) : this.release(permit));
      throw err;
    }
    await this.success(permit);
    return result;
  }

  /** The provider with every call going through this breaker. */
  wrap(provider: LlmProvider): LlmProvider {
    return { mode: provider.mode, complete: (req, settings, ctx) => this.run(() => provider.complete(req, settings, ctx)), breakerState: () => this.state() };
  }

  private probeLeaseMs(): number {
    return this.opts.probeLeaseMs ?? 120_000;
  }
}
