import { config, redactConfig } from '../lib/config';
import { Ledger } from '../lib/ledger';
import { createLogger } from '../lib/logger';
import { connectRedis } from '../lib/redis';
import { connectClient } from '../lib/temporal';
import { buildServer } from './server';

// `npm run api`: the Fastify API on API_HOST:API_PORT; stops cleanly on SIGINT/SIGTERM.

const cfg = config();
const logger = createLogger('api', cfg.LOG_LEVEL);

async function main(): Promise<void> {
  const temporal = await connectClient(cfg.TEMPORAL_ADDRESS, cfg.TEMPORAL_NAMESPACE);
  const redis = await connectRedis(cfg.REDIS_URL, { name: 'api' });
  const ledger = new Ledger(cfg.LEDGER_PATH);
  const app = await buildServer({ temporal, redis, ledger, config: cfg, logger });
  await app.listen({ host: cfg.API_HOST, port: cfg.API_PORT });
  logger.info({ config: redactConfig(cfg) }, `API listening on http://${cfg.API_HOST}:${cfg.API_PORT}`);
  const stop = async () => {
    await app.close();
    await temporal.connection.close();
    redis.disconnect();
    ledger.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
}

main().catch((err: Error) => {
  logger.fatal({ err: err.message }, 'api failed to start');
  process.stderr.write(`api: ${err.message}\n`);
  process.exit(1);
});
