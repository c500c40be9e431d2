import type { Client } from '@temporalio/client';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../lib/config';
import type { Ledger } from '../lib/ledger';
import { registerErrorHandler } from './errors';
import { healthRoutes } from './routes/health';
import { ledgerRoutes } from './routes/ledger';
import { pipelineRoutes } from './routes/pipelines';
import { spawnRoutes } from './routes/spawn';

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
    redis: Redis;
    ledger: Ledger;
    cfg: Config;
  }
}

export interface ApiDeps {
  temporal: Client;
  redis: Redis;
  ledger: Ledger;
  config: Config;
  logger: Logger;
}

export async function buildServer(deps: ApiDeps) {
  const app = Fastify({ loggerInstance: deps.logger as FastifyBaseLogger, bodyLimit: 64 * 1024, disableRequestLogging: false }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate('temporal', deps.temporal);
  app.decorate('redis', deps.redis);
  app.decorate('ledger', deps.ledger);
  app.decorate('cfg', deps.config);
  registerErrorHandler(app);
  await app.register(healthRoutes);
  await app.register(spawnRoutes);
  await app.register(pipelineRoutes);
  await app.register(ledgerRoutes);
  return app;
}
