import { config, redactConfig } from '../lib/config';
import { LedgerReader } from '../lib/ledger';
import { createLogger } from '../lib/logger';
import { connectRedis } from '../lib/redis';
import { connectClient } from '../lib/temporal';
import { setupTracing, tracing } from '../lib/tracing';
import { exposureProblem } from './auth';
import { buildServer } from './server';

// `npm run api`: the Fastify API on API_HOST:API_PORT. SIGINT/SIGTERM stop it gracefully: no new
// connections, requests in flight answered, WebSocket clients told (1001) so they reconnect with their
// `since`, then the clients to Temporal, Redis and the ledger closed, and the last spans sent. A shutdown that hangs is cut
// short after SHUTDOWN_TIMEOUT_MS.

const SHUTDOWN_TIMEOUT_MS = 10_000;
const cfg = config();
const logger = createLogger('api', cfg.LOG_LEVEL);
const exposed = exposureProblem(cfg);
if (exposed) {
  process.stderr.write(`agent-governance: ${exposed}\n`);
  process.exit(78); // EX_CONFIG, as for any bad variable (lib/config.ts)
}

async function main(): Promise<void> {
  // Before the client and the server: they trace through the provider installed here (lib/tracing.ts).
  setupTracing(cfg, 'agent-governance-api');
  const temporal = await connectClient(cfg.TEMPORAL_ADDRESS, cfg.TEMPORAL_NAMESPACE);
  const redis = await connectRedis(cfg.REDIS_URL, { name: 'api' });
  // Read-only: the worker with the ledger role owns the file and its tables.
  const ledger = new LedgerReader(cfg.LEDGER_PATH);
  const app = await buildServer({ temporal, redis, ledger, config: cfg, logger });
  await app.listen({ host: cfg.API_HOST, port: cfg.API_PORT });
  // redactConfig masks API_TOKEN and the other secrets.
  logger.info(
    { config: redactConfig(cfg), auth: Boolean(cfg.API_TOKEN), unauthenticatedByChoice: !cfg.API_TOKEN && cfg.API_ALLOW_UNAUTHENTICATED },
    `API listening on http://${cfg.API_HOST}:${cfg.API_PORT} (dashboard at /, OpenAPI at /docs)`,
  );

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, SHUTDOWN_TIMEOUT_MS).unref();
    try {
      await app.close();
      await temporal.connection.close();
      redis.disconnect();
      ledger.close();
      // The spans of the last requests, before the process goes.
      await tracing()
        .shutdown()
        .catch((err: Error) => logger.warn({ err: err.message }, 'the last spans could not be sent'));
      process.exit(0);
    } catch (err) {
      logger.error({ err }, 'shutdown failed');
      process.exit(1);
    }
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}

main().catch((err: Error) => {
  logger.fatal({ err: err.message }, 'api failed to start');
  process.stderr.write(`api: ${err.message}\n`);
  process.exit(1);
});
