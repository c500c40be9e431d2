import { config, redactConfig } from '../lib/config';
import { Ledger } from '../lib/ledger';
import { createLogger } from '../lib/logger';
import { connectRedis } from '../lib/redis';
import { connectClient, ensureSearchAttributes } from '../lib/temporal';
import { setupTracing, tracing } from '../lib/tracing';
import { freeLoopbackPort, sdkMetricsRelay } from '../lib/metrics/sdkRelay';
import type { WorkerMetrics } from '../lib/metrics/series';
import { serveMetrics, type MetricsServer } from '../lib/metrics/server';
import { connectNative, createWorkers, WORKER_ROLES, workerMetrics, type WorkerRole } from './create';
import { installRuntimeLogger } from './runtime';
import { deploymentVersion, superviseVersion, versionKey } from './versioning';

// `npm run worker`: checks every dependency first and stops with a clear message when one is missing,
// then runs until SIGINT/SIGTERM, when it finishes the tasks in hand and closes its connections.

const cfg = config();

/** WORKER_ROLES (not in the contract; default all): e.g. `llm` for extra provider-call workers. */
function roles(): WorkerRole[] {
  const raw = process.env.WORKER_ROLES;
  if (!raw) return [...WORKER_ROLES];
  const list = raw
    .split(',')
    .map((r) => r.trim())
    .filter(Boolean);
  const bad = list.filter((r) => !(WORKER_ROLES as readonly string[]).includes(r));
  if (bad.length || !list.length) throw new Error(`WORKER_ROLES: "${raw}" is not a comma-separated list of ${WORKER_ROLES.join(', ')}`);
  return list as WorkerRole[];
}
const logger = createLogger('worker', cfg.LOG_LEVEL);
const metricsHost = cfg.WORKER_METRICS_HOST;

/**
 * The worker's two metrics listeners: its own series (lib/metrics/series.ts) on WORKER_METRICS_PORT,
 * and the Temporal SDK's on WORKER_SDK_METRICS_PORT (through lib/metrics/sdkRelay.ts). Installs the
 * SDK runtime (logs, and its exporter on a loopback port) before any worker exists.
 */
async function startMetrics(metrics: WorkerMetrics): Promise<MetricsServer[]> {
  const servers: MetricsServer[] = [];
  try {
    if (cfg.WORKER_SDK_METRICS_PORT) {
      const internal = await freeLoopbackPort();
      installRuntimeLogger(logger, { sdkMetricsAddress: `127.0.0.1:${internal}` });
      const relay = sdkMetricsRelay(`http://127.0.0.1:${internal}/metrics`);
      servers.push(await serveMetrics(relay, metricsHost, cfg.WORKER_SDK_METRICS_PORT, 'WORKER_SDK_METRICS_PORT'));
    } else {
      installRuntimeLogger(logger);
    }
    if (cfg.WORKER_METRICS_PORT) {
      const own = async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() });
      servers.unshift(await serveMetrics(own, metricsHost, cfg.WORKER_METRICS_PORT, 'WORKER_METRICS_PORT'));
    }
  } catch (err) {
    await Promise.all(servers.map((s) => s.close()));
    throw err;
  }
  if (servers.length) logger.info({ metrics: servers.map((s) => `http://${s.address}/metrics`) }, 'worker metrics served');
  return servers;
}

async function main(): Promise<void> {
  // Before any client or worker: their interceptors and the workflow span sink use it (lib/tracing.ts).
  setupTracing(cfg, 'agent-governance-worker');
  // One registry for every worker of this process (lib/metrics/series.ts), served on its own port.
  const metrics = workerMetrics(cfg, { processMetrics: true });
  const metricsServers = await startMetrics(metrics);
  const client = await connectClient(cfg.TEMPORAL_ADDRESS, cfg.TEMPORAL_NAMESPACE);
  const added = await ensureSearchAttributes(client, cfg.TEMPORAL_NAMESPACE);
  if (added.length) logger.info({ added }, 'registered missing search attributes');
  await client.connection.close();

  const workerRoles = roles();
  const redis = await connectRedis(cfg.REDIS_URL, { name: 'worker' });
  let ledger: Ledger | undefined;
  try {
    // Only the ledger writer opens the file: one process owns it.
    if (workerRoles.includes('ledger')) ledger = new Ledger(cfg.LEDGER_PATH);
  } catch (err) {
    throw new Error(`the ledger at ${cfg.LEDGER_PATH} cannot be opened: ${(err as Error).message} (check LEDGER_PATH)`);
  }

  const connection = await connectNative(cfg.TEMPORAL_ADDRESS);
  // WORKFLOW_BUNDLE: a prebuilt bundle (tests, benchmark) saves the seconds bundling takes at start.
  const bundle = process.env.WORKFLOW_BUNDLE;
  const workers = await createWorkers({
    connection,
    config: cfg,
    redis,
    ledger,
    roles: workerRoles,
    metrics,
    ...(cfg.WORKER_IDENTITY ? { identity: cfg.WORKER_IDENTITY } : {}),
    ...(bundle ? { workflowBundle: { codePath: bundle } } : {}),
  });
  const version = deploymentVersion(cfg);
  logger.info(
    {
      config: redactConfig(cfg),
      identity: workers[0]?.options.identity,
      taskQueues: workers.map((w) => w.options.taskQueue),
      version: version ? versionKey(version) : 'unversioned',
    },
    'worker started',
  );
  if (version?.buildId.endsWith('+unknown')) {
    logger.warn(
      { version: versionKey(version) },
      'no WORKER_BUILD_ID and no git commit: every build of this package version shares this id; set WORKER_BUILD_ID',
    );
  }
  let stopped = false;
  try {
    // The SDK shuts the workers down on SIGINT/SIGTERM; run() resolves once in-flight tasks are done.
    const running = Promise.all(workers.map((w) => w.run())).finally(() => (stopped = true));
    // Once the workers poll, the server knows this version and it can be made current (WORKER_PROMOTE).
    if (version) {
      void superviseVersion({
        connection,
        namespace: cfg.TEMPORAL_NAMESPACE,
        taskQueue: cfg.TEMPORAL_TASK_QUEUE,
        version,
        mode: cfg.WORKER_PROMOTE,
        log: logger,
        stopped: () => stopped,
      });
    }
    await running;
  } finally {
    await connection.close();
    await Promise.all(metricsServers.map((s) => s.close()));
    redis.disconnect();
    ledger?.close();
    // The spans of the last tasks (and the workflows' ended spans) before the process goes.
    await tracing()
      .shutdown()
      .catch((err: Error) => logger.warn({ err: err.message }, 'the last spans could not be sent'));
    logger.info('worker stopped');
  }
}

main().catch((err: Error) => {
  logger.fatal({ err: err.message }, 'worker failed');
  process.stderr.write(`worker: ${err.message}\n`);
  process.exit(1);
});
