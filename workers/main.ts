import { config, redactConfig } from '../lib/config';
import { Ledger } from '../lib/ledger';
import { createLogger } from '../lib/logger';
import { connectRedis } from '../lib/redis';
import { connectClient, ensureSearchAttributes } from '../lib/temporal';
import { connectNative, createWorkers, WORKER_ROLES, type WorkerRole } from './create';
import { installRuntimeLogger } from './runtime';

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
installRuntimeLogger(logger);

async function main(): Promise<void> {
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
    ...(cfg.WORKER_IDENTITY ? { identity: cfg.WORKER_IDENTITY } : {}),
    ...(bundle ? { workflowBundle: { codePath: bundle } } : {}),
  });
  logger.info({ config: redactConfig(cfg), identity: workers[0]?.options.identity, taskQueues: workers.map((w) => w.options.taskQueue) }, 'worker started');
  try {
    // The SDK shuts the workers down on SIGINT/SIGTERM; run() resolves once in-flight tasks are done.
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
    redis.disconnect();
    ledger?.close();
    logger.info('worker stopped');
  }
}

main().catch((err: Error) => {
  logger.fatal({ err: err.message }, 'worker failed');
  process.stderr.write(`worker: ${err.message}\n`);
  process.exit(1);
});
