// Secrets from HashiCorp Vault's KV v2 engine over its HTTP API (X-Vault-Token). Values are cached for
// a TTL so rotation is picked up without a call to Vault per LLM request; a value is never logged and
// no error message carries it or the token. Paths are written as in the contract, with the KV v2
// `data/` segment: `secret/data/api-keys/openrouter`.

export const VAULT_SECRETS = {
  openrouterApiKey: { path: 'secret/data/api-keys/openrouter', field: 'api_key' },
  dragonflyPassword: { path: 'secret/data/services/dragonfly', field: 'password' },
} as const;

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

  /** Forgets cached values (e.g. after the provider rejected a key): the next read asks Vault. */
  invalidate(): void {
    this.cache.clear();
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
