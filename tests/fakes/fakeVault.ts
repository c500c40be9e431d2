import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

// A tiny Vault speaking the KV v2 read API (GET /v1/<mount>/data/<path> with X-Vault-Token), enough
// to test lib/vault.ts: secrets can change (rotation) and the server can be made to fail (sealed).

export interface FakeVault {
  url: string;
  /** Paths read so far, e.g. 'secret/data/api-keys/openrouter', oldest first. */
  readonly reads: string[];
  setSecret(path: string, data: Record<string, unknown>): void;
  /** Every request answers this status (e.g. 503, sealed) until called with undefined. */
  failWith(status: number | undefined): void;
  close(): Promise<void>;
}

export async function startFakeVault(opts: { token: string; secrets?: Record<string, Record<string, unknown>> }): Promise<FakeVault> {
  const secrets = new Map(Object.entries(opts.secrets ?? {}));
  const versions = new Map<string, number>();
  const reads: string[] = [];
  let failure: number | undefined;

  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://vault').pathname.replace(/^\/v1\//, '');
    const answer = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return answer(405, { errors: [] });
    reads.push(path);
    if (failure) return answer(failure, { errors: ['Vault is sealed'] });
    if (req.headers['x-vault-token'] !== opts.token) return answer(403, { errors: ['permission denied'] });
    const data = secrets.get(path);
    if (!data) return answer(404, { errors: [] });
    answer(200, {
      request_id: `fake-${reads.length}`,
      lease_id: '',
      renewable: false,
      lease_duration: 0,
      data: { data, metadata: { created_time: new Date().toISOString(), deletion_time: '', destroyed: false, version: versions.get(path) ?? 1 } },
      wrap_info: null,
      warnings: null,
      auth: null,
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    reads,
    setSecret: (path, data) => {
      secrets.set(path, data);
      versions.set(path, (versions.get(path) ?? 1) + 1);
    },
    failWith: (status) => void (failure = status),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
