import { config, redactConfig } from '../lib/config';
import { Ledger } from '../lib/ledger';
import { createLogger } from '../lib/logger';
import { connectRedis } from '../lib/redis';
import { connectClient, ensureSearchAttributes } from '../lib/temporal';
import { connectNative, createWorkers } from './create';
import { installRuntimeLogger } from './runtime';

// `npm run worker`: checks every dependency first and stops with a clear message when one is missing,
// then runs until SIGINT/SIGTERM, when it finishes the tasks in hand and closes its connections.

const cfg = config();
const logger = createLogger('worker', cfg.LOG_LEVEL);
installRuntimeLogger(logger);

async function main(): Promise<void> {
  const client = await connectClient(cfg.TEMPORAL_ADDRESS, cfg.TEMPORAL_NAMESPACE);
  const added = await ensureSearchAttributes(client, cfg.TEMPORAL_NAMESPACE);
  if (added.length) logger.info({ added }, 'registered missing search attributes');
  await client.connection.close();

  const redis = await connectRedis(cfg.REDIS_URL, { name: 'worker' });
  let ledger: Ledger;
  try {
    ledger = new Ledger(cfg.LEDGER_PATH);
  } catch (err) {
    throw new Error(`the ledger at ${cfg.LEDGER_PATH} cannot be opened: ${(err as Error).message} (check LEDGER_PATH)`);
  }

  const connection = await connectNative(cfg.TEMPORAL_ADDRESS);
  // WORKFLOW_BUNDLE: a prebuilt bundle (tests, benchmark) saves the seconds bundling takes at start.
  const bundle = process.env.WORKFLOW_BUNDLE;
  const workers = await createWorkers({ connection, config: cfg, redis, ledger, ...(bundle ? { workflowBundle: { codePath: bundle } } : {}) });
  logger.info({ config: redactConfig(cfg), taskQueues: workers.map((w) => w.options.taskQueue) }, 'worker started');
  try {
    // The SDK shuts the workers down on SIGINT/SIGTERM; run() resolves once in-flight tasks are done.
    await Promise.all(workers.map((w) => w.run()));
  } finally {
    await connection.close();
    redis.disconnect();
    ledger.close();
    logger.info('worker stopped');
  }
}

main().catch((err: Error) => {
  logger.fatal({ err: err.message }, 'worker failed');
  process.stderr.write(`worker: ${err.message}\n`);
  process.exit(1);
});
