import { Client, Connection } from '@temporalio/client';
import { Redis } from 'ioredis';
import { mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import { buildServer, type ApiDeps } from '../../api/server';
import type { PipelineEvent } from '../../common/types';
import { LedgerReader } from '../../lib/ledger';
import { freePort } from '../../devstack/temporalServer';
import { startHarness, type Harness } from './harness';
import { testLogger } from './logs';

// The API on a test harness (real worker, Temporal, Redis, ledger), and a WebSocket client for /ws.

export type Api = Awaited<ReturnType<typeof buildServer>>;

export async function startApi(h: Harness, opts: { token?: string } & Partial<ApiDeps> = {}): Promise<Api> {
  const { token, ...deps } = opts;
  // Read-only, as in production: the harness's worker owns the file.
  const ledger = new LedgerReader(h.ledger.path);
  const app = await buildServer({
    temporal: h.client,
    redis: h.redis,
    ledger,
    config: { ...h.config, TEMPORAL_TASK_QUEUE: h.taskQueue, API_TOKEN: token },
    logger: testLogger('api-test', process.env.API_TEST_LOG ?? 'silent'),
    // Tests send many requests from one address; the limit itself is tested on its own.
    rateLimit: { max: 100_000, timeWindowMs: 60_000 },
    ...deps,
  });
  app.addHook('onClose', async () => ledger.close());
  return app;
}

/** A harness and the API on it, for a test file's before(); the harness is stopped if the API fails to start. */
export async function startApiHarness(name: string): Promise<{ h: Harness; app: Api }> {
  const h = await startHarness(name);
  try {
    return { h, app: await startApi(h) };
  } catch (err) {
    await h.stop();
    throw err;
  }
}

/** Listens on a free port; returns host:port. */
export async function listen(app: Api): Promise<string> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return `127.0.0.1:${(app.server.address() as AddressInfo).port}`;
}

/** Clients whose server is not there: every call fails fast as "unavailable". */
export async function deadDependencies(): Promise<{ temporal: Client; redis: Redis; ledger: LedgerReader; close(): Promise<void> }> {
  const port = await freePort();
  const connection = Connection.lazy({ address: `127.0.0.1:${port}`, connectTimeout: 500, interceptors: [] });
  const temporal = new Client({ connection });
  const redis = new Redis({ host: '127.0.0.1', port, lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, retryStrategy: () => null });
  redis.on('error', () => undefined);
  // No worker has created it.
  const ledger = new LedgerReader(join(mkdtempSync(join(tmpdir(), 'ag-dead-ledger-')), 'ledger.db'));
  return {
    temporal,
    redis,
    ledger,
    async close() {
      redis.disconnect();
      await connection.close().catch(() => undefined);
    },
  };
}

export const json = <T = Record<string, unknown>>(r: { body: string }): T => JSON.parse(r.body) as T;

/** A /ws client that records every event, and how the connection ended. */
export class WsClient {
  readonly events: PipelineEvent[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      this.events.push(JSON.parse(String(data)) as PipelineEvent);
      this.waiters.forEach((w) => w());
    });
    this.closed = new Promise((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
  }

  /** Opens /ws; rejects with the HTTP status when the server refuses the upgrade. */
  static open(address: string, query: string, protocols?: string[]): Promise<WsClient> {
    const ws = new WebSocket(`ws://${address}/ws${query}`, protocols);
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(new WsClient(ws)));
      ws.once('unexpected-response', (_req, res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += String(c)));
        res.on('end', () => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode} ${body}`), { statusCode: res.statusCode, body })));
      });
      ws.once('error', reject);
    });
  }

  /** Resolves once `pred` holds for the events received so far. */
  async until(pred: (events: PipelineEvent[]) => boolean, timeoutMs = 60_000): Promise<void> {
    if (pred(this.events)) return;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out; got seqs ${this.events.map((e) => `${e.seq}:${e.type}`).join(' ')}`)), timeoutMs);
      const check = () => {
        if (!pred(this.events)) return;
        clearTimeout(timer);
        this.waiters = this.waiters.filter((w) => w !== check);
        resolve();
      };
      this.waiters.push(check);
    });
  }

  async close(): Promise<void> {
    this.ws.close();
    await this.closed;
  }
}

export const bearerProtocols = (token: string): string[] => ['agent-governance', `bearer.${Buffer.from(token).toString('base64url')}`];
