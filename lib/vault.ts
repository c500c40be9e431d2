// Secrets from HashiCorp Vault's KV v2 engine over its HTTP API (X-Vault-Token). Values are cached for
// a TTL so rotation is picked up without a call to Vault per LLM request; a value is never logged and
// no error message carries it or the token. Paths are written as in the contract, with the KV v2
// `data/` segment: `secret/data/api-keys/openrouter`.

import { ProviderError, type LlmProvider } from '../agents/provider';

export const VAULT_SECRETS = {
  openrouterApiKey: { path: 'secret/data/api-keys/openrouter', field: 'api_key' },
  dragonflyPassword: { path: 'secret/data/services/dragonfly', field: 'password' },
} as const;

/**
 * Why an address may not be used for Vault, or null: plain http only to this machine, since the token
 * (and the secrets in the answers) would otherwise cross the network in clear text.
 */
export function vaultAddrProblem(addr: string): string | null {
  let url: URL;
  try {
    url = new URL(addr);
  } catch {
    return 'a URL such as https://vault.example:8200';
  }
  if (url.protocol === 'https:') return null;
  if (url.protocol !== 'http:') return `an http:// or https:// URL (got ${url.protocol})`;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopback = host === 'localhost' || host === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
  return loopback
    ? null
    : `https:// (http:// only to a loopback address such as http://127.0.0.1:8200: the token would cross the network in clear text; got ${url.host})`;
}

export interface VaultOptions {
  addr: string;
  token: string;
  /** How long a value read is used before Vault is asked again (default 5 minutes). */
  ttlMs?: number;
  /** When Vault cannot be read, a value read at most this long ago is still used (default 10 minutes). */
  staleIfErrorMs?: number;
  /** Per request to Vault (default 5 s). */
  timeoutMs?: number;
}

export class VaultError extends Error {
  /** Vault unreachable or failing (5xx): worth retrying. Denied, missing or malformed: not. */
  readonly retryable: boolean;
  constructor(
    message: string,
    readonly status?: number,
    retryable = status !== undefined && status >= 500,
  ) {
    super(message);
    this.name = 'VaultError';
    this.retryable = retryable;
  }
}

interface Entry {
  data: Record<string, unknown>;
  at: number;
}

export class VaultClient {
  private readonly cache = new Map<string, Entry>();
  private readonly pending = new Map<string, Promise<Entry>>();
  private readonly addr: string;

  constructor(private readonly opts: VaultOptions) {
    const problem = vaultAddrProblem(opts.addr);
    if (problem) throw new VaultError(`VAULT_ADDR must be ${problem}`);
    this.addr = opts.addr.replace(/\/+$/, '');
  }

  openrouterApiKey(): Promise<string> {
    return this.read(VAULT_SECRETS.openrouterApiKey.path, VAULT_SECRETS.openrouterApiKey.field);
  }

  dragonflyPassword(): Promise<string> {
    return this.read(VAULT_SECRETS.dragonflyPassword.path, VAULT_SECRETS.dragonflyPassword.field);
  }

  /** One string field of a KV v2 secret, e.g. read('secret/data/api-keys/openrouter', 'api_key'). */
  async read(path: string, field: string): Promise<string> {
    const entry = await this.entry(path.replace(/^\/+/, ''));
    const value = entry.data[field];
    if (value === undefined) throw new VaultError(`the Vault secret at ${path} has no field "${field}"`);
    if (typeof value !== 'string' || value === '') throw new VaultError(`the field "${field}" of the Vault secret at ${path} is not a non-empty string`);
    return value;
  }

  /**
   * Forgets cached values (e.g. after the provider rejected a key): the next read asks Vault. With
   * `readBefore` (epoch ms), only values read before then: a value another call has just re-read is kept.
   */
  invalidate(readBefore?: number): void {
    for (const [path, entry] of this.cache) if (readBefore === undefined || entry.at < readBefore) this.cache.delete(path);
  }

  private async entry(path: string): Promise<Entry> {
    const cached = this.cache.get(path);
    const now = Date.now();
    if (cached && now - cached.at < (this.opts.ttlMs ?? 300_000)) return cached;
    let pending = this.pending.get(path);
    if (!pending) {
      // Concurrent readers share one request.
      pending = this.fetchEntry(path).finally(() => this.pending.delete(path));
      this.pending.set(path, pending);
    }
    try {
      const entry = await pending;
      this.cache.set(path, entry);
      return entry;
    } catch (err) {
      // A Vault blip must not stop every LLM call while a recent value is at hand.
      if (cached && now - cached.at < (this.opts.staleIfErrorMs ?? 600_000)) return cached;
      throw err;
    }
  }

  private async fetchEntry(path: string): Promise<Entry> {
    let res: Response;
    try {
      res = await fetch(`${this.addr}/v1/${path}`, {
        headers: { 'X-Vault-Token': this.opts.token },
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 5000),
      });
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      const why = e.name === 'TimeoutError' ? `no answer within ${this.opts.timeoutMs ?? 5000} ms` : (e.cause?.code ?? e.cause?.message ?? e.message);
      throw new VaultError(`Vault at ${this.addr} is unreachable (reading ${path}): ${this.scrub(why)} (check VAULT_ADDR)`, undefined, true);
    }
    const body = (await res.json().catch(() => null)) as { data?: { data?: unknown }; errors?: unknown[] } | null;
    if (res.status === 403) {
      throw new VaultError(`Vault denied reading ${path} (403): check that VAULT_TOKEN is valid and its policy allows reading this path`, 403);
    }
    if (res.status === 404) throw new VaultError(`Vault has no secret at ${path} (404)`, 404);
    if (!res.ok) {
      const errors = Array.isArray(body?.errors) ? body.errors.map(String).join('; ') : '';
      throw new VaultError(`Vault answered ${res.status} reading ${path}${errors ? `: ${this.scrub(errors.slice(0, 300))}` : ''}`, res.status);
    }
    const data = body?.data?.data;
    if (!data || typeof data !== 'object')
      throw new VaultError(`Vault's answer for ${path} is not a KV v2 secret (is the path under a kv-v2 mount, with data/?)`);
    return { data: data as Record<string, unknown>, at: Date.now() };
  }

  private scrub(text: string): string {
    return this.opts.token ? text.split(this.opts.token).join('[redacted]') : text;
  }
}

/**
 * A provider whose key comes from Vault, retried once with a fresh read when the provider answers 401:
 * after a key rotation the cached key is stale, and without this every agent would be revoked (401 is
 * fatal) until the cache's TTL ran out. A second 401 is the provider's verdict and stays fatal.
 */
export function refreshKeyOn401(provider: LlmProvider, vault: VaultClient): LlmProvider {
  return {
    mode: provider.mode,
    async complete(req, settings, ctx) {
      const started = Date.now();
      try {
        return await provider.complete(req, settings, ctx);
      } catch (err) {
        if (!(err instanceof ProviderError) || err.kind !== 'auth' || ctx.signal?.aborted) throw err;
        vault.invalidate(started);
        return provider.complete(req, settings, ctx);
      }
    },
    ...(provider.breakerState ? { breakerState: provider.breakerState.bind(provider) } : {}),
  };
}
