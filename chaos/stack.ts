import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { spawnSync } from 'node:child_process';
import { cpSync, createWriteStream, mkdirSync, mkdtempSync, readFileSync, rmSync, type WriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeLlm, type FakeLlm } from '../devstack/fakeLlm';
import { startRedisServer, startTs, waitFor, type Managed } from '../devstack/processes';
import { writeWorkflowBundle } from '../devstack/stack';
import { ensureTemporalCli, freePort, startDevServer, type DevServer } from '../devstack/temporalServer';
import { buildId } from '../lib/buildId';
import { connectRedis } from '../lib/redis';
import { connectClient } from '../lib/temporal';
import type { LlmCallPlace } from '../common/types';

// The stack `npm run chaos` breaks on purpose: every part is its own and can be killed and started
// again. A Temporal dev server on a database FILE (so a restart keeps every workflow), a redis-server
// on a free port (never the shared 6379: R3 restarts and FLUSHALLs it), worker and API processes (the
// real entry points, killed with SIGKILL), the fake OpenAI server in this process, and the ledger
// file, on a small tmpfs of its own where the machine allows a mount (R8 fills it). Everything the processes print goes to one log file, which R6 searches for secrets.

/** Recognisable secrets: R6 counts where they appear. */
export const CHAOS_KEY = 'sk-or-v1-chaosKEY-7d41b2aa9c0e5f31';
export const CHAOS_TOKEN = 'chaos-api-TOKEN-9f3e1c5b2d7a4e60';
export const TASK_QUEUE = 'chaos';
export const BREAKER_FAILURES = 5;
export const BREAKER_COOLDOWN_SECONDS = 3;

export interface ChaosStack {
  dir: string;
  logFile: string;
  temporalAddress: string;
  redisUrl: string;
  ledgerPath: string;
  /**
   * The ledger's directory when it is a small filesystem of its own (a tmpfs this stack mounted, so R8
   * can fill it); undefined where mounting is not allowed (it needs root), and the ledger is in `dir`.
   */
  ledgerFs?: string;
  bundle: string;
  apiUrl: string;
  fake: FakeLlm;
  client: Client;
  redis: Redis;
  /** Exits nobody asked for (a worker or the API that died on its own); they are restarted. */
  crashes: { name: string; code: number | null; signal: string | null; at: number }[];
  workers: Managed[];
  startWorker(): Promise<Managed>;
  /** SIGKILL every worker process; they stay down until startWorker(). */
  killWorkers(): Promise<void>;
  restartApi(): Promise<void>;
  /** Stops the dev server (SIGKILL, as a crash) and starts it again on the same port and file. */
  restartTemporal(downMs: number): Promise<void>;
  /** Stops redis-server (nothing is persisted: its data is gone) and starts it again on the same port. */
  restartRedis(downMs: number): Promise<void>;
  /** Everything the processes (and the dev server) printed so far. */
  logText(): string;
  log(line: string): void;
  stop(): Promise<void>;
}

export interface ChaosStackOptions {
  log?: (line: string) => void;
  /** An existing dev server (the test run's): then restartTemporal is refused. */
  temporalAddress?: string;
  bundle?: string;
  workers?: number;
  /** Where the workers run the agents' calls (LLM_CALLS): the cases against either placement. */
  llmCalls?: LlmCallPlace;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The tmpfs R8 fills (its size: room for a full run's ledger, and little to fill). */
const LEDGER_FS_SIZE = '64m';

/** Mounts a tmpfs of its own at `path`, or says why not and returns undefined. */
function mountSmallFs(path: string, log: (line: string) => void): string | undefined {
  mkdirSync(path, { recursive: true });
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${LEDGER_FS_SIZE},mode=0700`, 'tmpfs', path], { encoding: 'utf8' });
  if (r.status === 0) return path;
  log(`the ledger is on the run's disk: mounting a tmpfs for it failed (${(r.stderr || r.error?.message || '').trim()}), so R8 cannot fill it`);
  return undefined;
}

export async function startChaosStack(opts: ChaosStackOptions = {}): Promise<ChaosStack> {
  const log = opts.log ?? ((line: string) => console.log(`chaos: ${line}`));
  const dir = mkdtempSync(join(tmpdir(), 'ag-chaos-'));
  const logFile = join(dir, 'processes.log');
  const logStream: WriteStream = createWriteStream(logFile, { flags: 'a' });
  const cleanups: (() => Promise<void>)[] = [];
  let stopping = false;
  const stopAll = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const cli = await ensureTemporalCli();
    let temporal: DevServer | undefined;
    const temporalPort = opts.temporalAddress ? undefined : await freePort();
    const dbFile = join(dir, 'temporal.db');
    let temporalAddress = opts.temporalAddress ?? '';
    if (temporalPort) {
      temporal = await startDevServer({ cli, port: temporalPort, dbFile, logFile });
      temporalAddress = temporal.address;
      cleanups.push(() => temporal!.stop());
    }
    log(`Temporal at ${temporalAddress}${temporalPort ? ` (database ${dbFile})` : ' (shared: not restartable)'}`);

    const redisPort = await freePort();
    let redisServer = await startRedisServer(redisPort);
    cleanups.push(() => redisServer.stop());
    const redisUrl = `redis://127.0.0.1:${redisPort}`;

    let bundle = opts.bundle ?? process.env.WORKFLOW_BUNDLE;
    if (!bundle) {
      const file = await writeWorkflowBundle(logFile);
      cleanups.push(async () => rmSync(file, { force: true }));
      bundle = file;
    }
    const fake = await startFakeLlm({ apiKey: CHAOS_KEY });
    cleanups.push(() => fake.close());
    const ledgerFs = mountSmallFs(join(dir, 'ledger-fs'), log);
    if (ledgerFs)
      cleanups.push(async () => {
        // CHAOS_KEEP keeps the run's directory: the ledger with it, before its filesystem goes.
        if (process.env.CHAOS_KEEP) cpSync(ledgerFs, join(dir, 'ledger'), { recursive: true });
        spawnSync('umount', [ledgerFs]);
      });
    const ledgerPath = join(ledgerFs ?? dir, 'ledger.db');
    const apiPort = await freePort();
    const apiUrl = `http://127.0.0.1:${apiPort}`;

    const base: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      NODE_ENV: 'production',
      TEMPORAL_ADDRESS: temporalAddress,
      REDIS_URL: redisUrl,
      LEDGER_PATH: ledgerPath,
      TEMPORAL_TASK_QUEUE: TASK_QUEUE,
      LOG_LEVEL: 'info',
      // Read once for the run: a worker restarted after a commit landed would otherwise be a new
      // deployment version, and the pipelines pinned to the old one would wait for workers that never come.
      WORKER_BUILD_ID: buildId(process.env.WORKER_BUILD_ID || undefined),
    };
    // The key goes to the worker only, as in production; the token to the API only.
    const workerEnv: NodeJS.ProcessEnv = {
      ...base,
      WORKFLOW_BUNDLE: bundle,
      OPENROUTER_API_KEY: CHAOS_KEY,
      OPENROUTER_BASE_URL: fake.url,
      BREAKER_FAILURES: String(BREAKER_FAILURES),
      BREAKER_COOLDOWN_SECONDS: String(BREAKER_COOLDOWN_SECONDS),
      LLM_CALLS: opts.llmCalls ?? 'queue',
      RECOVERY_WINDOW_SECONDS: '5',
      // Workers come and go (and overlap while one restarts): no fixed metrics port to fight over.
      WORKER_METRICS_PORT: 'off',
      WORKER_SDK_METRICS_PORT: 'off',
    };
    const apiEnv: NodeJS.ProcessEnv = { ...base, API_HOST: '127.0.0.1', API_PORT: String(apiPort), API_TOKEN: CHAOS_TOKEN };

    const crashes: ChaosStack['crashes'] = [];
    const expected = new WeakSet<Managed>();
    const workers: Managed[] = [];
    let api: Managed | undefined;

    const supervise = (m: Managed, restart: () => Promise<unknown>) => {
      m.child.once('exit', (code, signal) => {
        if (expected.has(m) || stopping) return;
        crashes.push({ name: m.name, code, signal, at: Date.now() });
        log(`${m.name} exited on its own (code ${code}, signal ${signal}): ${m.lastStderr().trim().slice(-300)}; restarting it`);
        void sleep(1000).then(() => (stopping ? undefined : restart().catch((err: Error) => log(`restarting ${m.name} failed: ${err.message}`))));
      });
    };

    const startWorker = async (): Promise<Managed> => {
      const w = startTs('worker', 'workers/main.ts', workerEnv, logStream);
      workers.push(w);
      supervise(w, async () => {
        workers.splice(workers.indexOf(w), 1);
        await startWorker();
      });
      return w;
    };
    const killWorkers = async () => {
      const list = workers.splice(0);
      await Promise.all(
        list.map((w) => {
          expected.add(w);
          if (w.child.exitCode !== null || w.child.signalCode !== null) return Promise.resolve();
          const exited = new Promise<void>((resolve) => w.child.once('exit', () => resolve()));
          w.child.kill('SIGKILL');
          return exited;
        }),
      );
    };
    const startApi = async () => {
      const a = startTs('api', 'api/main.ts', apiEnv, logStream);
      api = a;
      supervise(a, startApi);
      await waitFor('the API', async () => (await fetch(`${apiUrl}/healthz`)).status < 500, 60_000, a);
    };
    const stopApi = async () => {
      if (!api) return;
      expected.add(api);
      await api.stop();
    };
    cleanups.push(async () => {
      stopping = true;
      await stopApi();
      await killWorkers();
    });

    for (let i = 0; i < (opts.workers ?? 1); i++) await startWorker();
    await startApi();

    const client = await connectClient(temporalAddress, 'default');
    cleanups.push(() => client.connection.close());
    const redis = await connectRedis(redisUrl, { name: 'chaos' });
    redis.on('error', () => undefined);
    cleanups.push(async () => redis.disconnect());
    cleanups.push(async () => void logStream.end());

    return {
      dir,
      logFile,
      temporalAddress,
      redisUrl,
      ledgerPath,
      ...(ledgerFs ? { ledgerFs } : {}),
      bundle,
      apiUrl,
      fake,
      client,
      redis,
      crashes,
      workers,
      startWorker,
      killWorkers,
      async restartApi() {
        await stopApi();
        await startApi();
      },
      async restartTemporal(downMs) {
        if (!temporal) throw new Error('this chaos stack shares a Temporal server: it cannot restart it');
        temporal.process.kill('SIGKILL');
        await new Promise<void>((resolve) =>
          temporal!.process.exitCode !== null || temporal!.process.signalCode ? resolve() : temporal!.process.once('exit', () => resolve()),
        );
        await sleep(downMs);
        temporal = await startDevServer({ cli, port: temporalPort!, dbFile, logFile });
      },
      async restartRedis(downMs) {
        await redisServer.stop();
        await sleep(downMs);
        redisServer = await startRedisServer(redisPort);
      },
      logText: () => readFileSync(logFile, 'utf8'),
      log,
      async stop() {
        stopping = true;
        await stopAll();
        if (!process.env.CHAOS_KEEP) rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    stopping = true;
    await stopAll();
    throw err;
  }
}
