import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, createWriteStream, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { homedir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { SEARCH_ATTRIBUTE_NAMES } from '../common/searchAttributes';
import { openConnection } from '../lib/temporal';

// Finding, building and starting the Temporal CLI's dev server, for `npm run temporal`, the demo,
// the tests and the benchmark. The binary is cached outside the repo: it is 250 MB and takes minutes
// to build, so it is built once per machine.

export const TEMPORAL_CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
export const CACHE_DIR = process.env.AGENT_GOVERNANCE_CACHE ?? join(homedir(), '.cache', 'agent-governance');
const CACHED_CLI = join(CACHE_DIR, 'bin', 'temporal');

const executable = (path: string): boolean => {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
};

const onPath = (name: string): string | undefined =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, name))
    .find(executable);

/** TEMPORAL_CLI_PATH, else `temporal` on PATH, else the cache; undefined when there is none. */
export function findTemporalCli(): string | undefined {
  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    if (!executable(explicit)) throw new Error(`TEMPORAL_CLI_PATH=${explicit} is not an executable file`);
    return explicit;
  }
  return onPath('temporal') ?? (executable(CACHED_CLI) ? CACHED_CLI : undefined);
}

/** Finds the CLI or builds it into the cache with `go install`, showing that it is working. */
export async function ensureTemporalCli(out: NodeJS.WritableStream = process.stderr): Promise<string> {
  const found = findTemporalCli();
  if (found) return found;
  const go = onPath('go') ?? (executable('/usr/local/go/bin/go') ? '/usr/local/go/bin/go' : undefined);
  if (!go) {
    throw new Error(
      'The Temporal CLI is not installed and Go is not there to build it. Install Go 1.24 or newer ' +
        '(https://go.dev/dl/, or `apt-get install golang-go` where it is recent enough), or install the ' +
        'Temporal CLI yourself and set TEMPORAL_CLI_PATH to it.',
    );
  }
  mkdirSync(join(CACHE_DIR, 'bin'), { recursive: true });
  out.write(
    `Building the Temporal CLI (${TEMPORAL_CLI_MODULE}) into ${CACHE_DIR}/bin once for this machine.\n` +
      'This takes about 7 minutes and makes a 250 MB binary; later runs reuse it.\n',
  );
  const started = Date.now();
  const child = spawn(go, ['install', TEMPORAL_CLI_MODULE], {
    env: { ...process.env, GOBIN: join(CACHE_DIR, 'bin'), GOFLAGS: process.env.GOFLAGS ?? '-mod=mod' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let downloads = 0;
  let lastLine = '';
  const tail: string[] = [];
  const onData = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      if (line.startsWith('go: downloading')) downloads++;
      lastLine = line;
      tail.push(line);
      if (tail.length > 20) tail.shift();
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const tty = (out as NodeJS.WriteStream).isTTY;
  const timer = setInterval(
    () => {
      const secs = Math.round((Date.now() - started) / 1000);
      const phase = downloads ? `${downloads} modules downloaded, compiling` : 'resolving modules';
      const line = `  go install: ${secs}s elapsed, ${phase}${lastLine ? ` (${lastLine.slice(0, 60)})` : ''}`;
      out.write(tty ? `\r${line.padEnd(110)}` : `${line}\n`);
    },
    tty ? 1000 : 30_000,
  );
  const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
  clearInterval(timer);
  if (tty) out.write('\n');
  if (code !== 0 || !executable(CACHED_CLI)) {
    throw new Error(`building the Temporal CLI failed (go install exited ${code}):\n${tail.join('\n')}`);
  }
  out.write(`Temporal CLI built in ${Math.round((Date.now() - started) / 1000)}s: ${CACHED_CLI}\n`);
  return CACHED_CLI;
}

export async function isTemporalUp(address: string, timeoutMs = 2000): Promise<boolean> {
  try {
    await (await openConnection(address, timeoutMs)).close();
    return true;
  } catch {
    return false;
  }
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

export interface DevServerOptions {
  cli: string;
  port: number;
  /** Web UI port; undefined runs headless. */
  uiPort?: number;
  /** SQLite file; undefined keeps everything in memory. */
  dbFile?: string;
  logFile?: string;
  namespace?: string;
}

export interface DevServer {
  address: string;
  uiUrl?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Dynamic config for the dev server (measured: see the README's performance section).
 * - Eager activities: an activity on the workflow's own queue starts in the workflow task's reply.
 * - One partition per task queue: LLM_RATE_LIMIT is enforced per partition, so with the default 4 a
 *   limit of 2/s let 4 calls out at once and a backlog in one partition drained at 0.5/s. A single
 *   node gains nothing from partitions. (In production, set these two for the `<queue>-llm` queue.)
 * - The transfer queue (the history service's "start this workflow task", "deliver this signal",
 *   "dispatch this activity") read every 10 ms: by default at most 20 times a second per history
 *   shard, and the dev server has one, so a task falling due within 50 ms of the last read waited out
 *   the rest, three times on P1's critical path and twice between a spawn and its first event. 100
 *   reads a second measured P1 1.40-1.45 against 1.45-1.52 and P4 p95 118-185 ms against 195-214 ms,
 *   side by side, P2 unchanged; 1,000 shortened the waits further but competed for the 2 cores and P1
 *   did not move (README, "Per-call cost").
 */
// Worker Versioning: the server registers every task queue a deployment's workers poll, at most 100 by
// default. A production deployment has three (the queue, -llm, -ledger); a test run gives each test
// file queues of its own under the run's one build id, well past 100, after which polls fail forever.
const DYNAMIC_CONFIG = [
  'system.enableActivityEagerExecution=true',
  'matching.numTaskqueueReadPartitions=1',
  'matching.numTaskqueueWritePartitions=1',
  'matching.maxTaskQueuesInDeployment=100000',
  'matching.maxTaskQueuesInDeploymentVersion=100000',
  'history.transferProcessorMaxPollRPS=100',
];

/** The dev server's settings: ours, each replaced by TEMPORAL_DYNAMIC_CONFIG's value for the same key. */
export function dynamicConfig(env: NodeJS.ProcessEnv = process.env): string[] {
  const extra = extraDynamicConfig(env);
  const keyOf = (kv: string) => kv.slice(0, kv.indexOf('='));
  const overridden = new Set(extra.map(keyOf));
  return [...DYNAMIC_CONFIG.filter((kv) => !overridden.has(keyOf(kv))), ...extra];
}

/**
 * More `key=value` settings from TEMPORAL_DYNAMIC_CONFIG (comma-separated), to try a server setting on
 * the dev stack, the tests or the bench without editing this file. For example
 * `history.transferProcessorMaxPollRPS=20` (the server's default; README, "Per-call cost").
 */
export function extraDynamicConfig(env: NodeJS.ProcessEnv = process.env): string[] {
  const raw = env.TEMPORAL_DYNAMIC_CONFIG?.trim();
  if (!raw) return [];
  return raw.split(',').map((kv) => {
    const t = kv.trim();
    if (!/^[A-Za-z][\w.]*=\S+$/.test(t))
      throw new Error(`TEMPORAL_DYNAMIC_CONFIG: "${t}" is not key=value (for example history.transferProcessorMaxPollRPS=1000)`);
    return t;
  });
}

/**
 * The first start on a fresh machine is the slowest: a 250 MB binary read for the first time and a
 * new SQLite file, often on a 2-core machine still busy from the build. Waiting costs nothing once
 * the server answers.
 */
const START_DEADLINE_MS = 120_000;

export async function startDevServer(opts: DevServerOptions): Promise<DevServer> {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(opts.port), '--log-level', 'warn'];
  args.push(...(opts.uiPort ? ['--ui-port', String(opts.uiPort)] : ['--headless']));
  if (opts.dbFile) {
    mkdirSync(dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  if (opts.namespace && opts.namespace !== 'default') args.push('--namespace', opts.namespace);
  for (const name of SEARCH_ATTRIBUTE_NAMES) args.push('--search-attribute', `${name}=Keyword`);
  for (const kv of dynamicConfig()) args.push('--dynamic-config-value', kv);

  const child = spawn(opts.cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: false });
  const output: string[] = [];
  const log = opts.logFile ? createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  const keep = (chunk: Buffer) => {
    log?.write(chunk);
    output.push(chunk.toString());
    if (output.length > 50) output.shift();
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));

  const address = `127.0.0.1:${opts.port}`;
  const deadline = Date.now() + START_DEADLINE_MS;
  let up = false;
  while (!up && Date.now() < deadline) {
    const early = await Promise.race([exited.then((c) => ({ c })), new Promise((r) => setTimeout(r, 300))]);
    if (early && typeof early === 'object' && 'c' in early) {
      throw new Error(`the Temporal dev server exited (${early.c}) at start:\n${output.join('').slice(-2000)}`);
    }
    up = await isTemporalUp(address, 1000);
  }
  if (!up) {
    child.kill('SIGKILL');
    throw new Error(`the Temporal dev server did not answer at ${address} within ${START_DEADLINE_MS / 1000}s:\n${output.join('').slice(-2000)}`);
  }
  return {
    address,
    uiUrl: opts.uiPort ? `http://localhost:${opts.uiPort}` : undefined,
    process: child,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const done = await Promise.race([exited.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
      if (!done) child.kill('SIGKILL');
      log?.end();
    },
  };
}

const LOCAL_HOSTS = ['localhost', '127.0.0.1'];

export interface LocalTemporal {
  /** Where the server answered: what every client and child process must connect to. */
  address: string;
  /** The dev server started here; undefined when one already answered. */
  server?: DevServer;
}

/**
 * The Temporal server that answers at `address`, else a dev server started on its port. Callers
 * connect to the returned address, not to `address`: the dev server listens on 127.0.0.1 only,
 * and `localhost` can resolve to ::1 first, so a client given `localhost:7233` may never reach the
 * server that was just checked on 127.0.0.1:7233.
 */
export async function ensureLocalTemporal(
  address: string,
  opts: Omit<DevServerOptions, 'cli' | 'port'>,
  log: (line: string) => void = () => undefined,
): Promise<LocalTemporal> {
  const [host, port] = address.split(':') as [string, string];
  const candidates = host === 'localhost' ? [address, `127.0.0.1:${port}`] : [address];
  for (const candidate of candidates) if (await isTemporalUp(candidate)) return { address: candidate };
  if (!LOCAL_HOSTS.includes(host)) {
    throw new Error(`nothing answers at TEMPORAL_ADDRESS=${address}, and a dev server can only be started on this machine`);
  }
  log(`nothing answers at ${address}; starting the Temporal dev server on 127.0.0.1:${port}`);
  const cli = await ensureTemporalCli();
  const server = await startDevServer({ cli, port: Number(port), ...opts });
  return { address: server.address, server };
}

/**
 * Runs a temporal CLI command. Asynchronous on purpose: a worker in the same process must keep
 * answering the queries and updates the command sends.
 */
export function runCli(cli: string, args: string[], address: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cli, [...args, '--address', address], { encoding: 'utf8', timeout: 120_000 }, (err, stdout, stderr) =>
      resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}
