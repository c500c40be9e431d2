import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { appendFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildId } from '../lib/buildId';
import { connectRedis } from '../lib/redis';
import { connectClient } from '../lib/temporal';
import { WORKFLOWS_PATH } from '../workers/create';
import { REPO_ROOT, startRedisServer } from './processes';
import { ensureTemporalCli, freePort, startDevServer } from './temporalServer';

// What the test run and the benchmark stand on: a real Temporal dev server on free ports (unless
// TEMPORAL_ADDRESS is given), real Redis (a redis-server of our own on a free port when none answers at
// REDIS_URL) and the workflow bundle built once, so workers start in a moment.

export interface Stack {
  /** TEMPORAL_ADDRESS, TEMPORAL_CLI_PATH, REDIS_URL, WORKFLOW_BUNDLE and WORKER_BUILD_ID, for child processes. */
  env: NodeJS.ProcessEnv;
  /** The dev server's process id when the stack started one (not with TEMPORAL_ADDRESS): the benchmark reads its CPU. */
  serverPid?: number;
  stop(): Promise<void>;
}

export interface StackOptions {
  log?: (line: string) => void;
  /** Appended with the dev server's output and the bundler's log; without it they are dropped. */
  logFile?: string;
}

export async function startStack({ log = console.log, logFile }: StackOptions = {}): Promise<Stack> {
  // Workers started on this stack (tests, the benchmark) leave their metrics ports closed: several
  // processes, and several test runs, share a machine, and 9464/9465 fit one. A test of the metrics
  // (tests/metrics.test.ts) gives its worker free ports.
  const env: NodeJS.ProcessEnv = { WORKER_METRICS_PORT: 'off', WORKER_SDK_METRICS_PORT: 'off' };
  const cleanups: (() => Promise<void>)[] = [];
  let serverPid: number | undefined;
  const stop = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const cli = await ensureTemporalCli();
    env.TEMPORAL_CLI_PATH = cli;
    env.TEMPORAL_ADDRESS = process.env.TEMPORAL_ADDRESS;
    if (env.TEMPORAL_ADDRESS) {
      // Checked here, once, so a wrong address fails the run with one clear message, not every test.
      await (await connectClient(env.TEMPORAL_ADDRESS, process.env.TEMPORAL_NAMESPACE ?? 'default')).connection.close();
    } else {
      const server = await startDevServer({ cli, port: await freePort(), logFile });
      cleanups.push(() => server.stop());
      env.TEMPORAL_ADDRESS = server.address;
      serverPid = server.process.pid;
      log(`Temporal dev server at ${server.address}`);
    }

    const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
    try {
      (await connectRedis(redisUrl)).disconnect();
      env.REDIS_URL = redisUrl;
    } catch {
      const port = await freePort();
      const redis = await startRedisServer(port);
      cleanups.push(() => redis.stop());
      env.REDIS_URL = `redis://127.0.0.1:${port}`;
    }
    log(`Redis at ${env.REDIS_URL}`);

    // Read once for the run: every worker of it is one deployment version, even if a commit lands meanwhile.
    env.WORKER_BUILD_ID = buildId(process.env.WORKER_BUILD_ID || undefined);
    env.WORKFLOW_BUNDLE = process.env.WORKFLOW_BUNDLE;
    if (!env.WORKFLOW_BUNDLE) {
      const file = await writeWorkflowBundle(logFile);
      cleanups.push(async () => rmSync(file, { force: true }));
      env.WORKFLOW_BUNDLE = file;
    }
    return { env, serverPid, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Builds the workflow bundle into .tmp/ (a file per process); the caller removes it. */
export async function writeWorkflowBundle(logFile?: string): Promise<string> {
  const tmp = join(REPO_ROOT, '.tmp');
  mkdirSync(tmp, { recursive: true });
  const { code } = await bundleWorkflowCode({
    // Without the tracing interceptors, as a worker without tracing bundles (workers/create.ts).
    workflowsPath: WORKFLOWS_PATH,
    logger: bundlerLogger(logFile),
  });
  const file = join(tmp, `workflow-bundle-${process.pid}.js`);
  writeFileSync(file, code);
  return file;
}

/** The bundler's messages to the log file; without one, only its warnings and errors, on stderr. */
function bundlerLogger(logFile: string | undefined): DefaultLogger {
  if (!logFile) return new DefaultLogger('WARN');
  return new DefaultLogger('INFO', ({ level, message, meta }) =>
    appendFileSync(logFile, `${JSON.stringify({ time: new Date().toISOString(), level, service: 'bundler', msg: message, ...meta })}\n`),
  );
}
