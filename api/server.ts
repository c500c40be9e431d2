import rateLimit from '@fastify/rate-limit';
import websocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { Client } from '@temporalio/client';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply } from 'fastify';
import fp from 'fastify-plugin';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Config } from '../lib/config';
import type { LedgerReader } from '../lib/ledger';
import { PIPELINE_ID_PATTERN, PIPELINE_ID_RULE } from '../common/ids';
import auth, { selectProtocol } from './auth';
import crossSite from './crossSite';
import docs from './docs';
import errors, { errorBody } from './errors';
import events from './events';
import metrics from './metrics';
import { controlRoutes } from './routes/control';
import { dashboardRoutes } from './routes/dashboard';
import { healthRoutes } from './routes/health';
import { ledgerRoutes } from './routes/ledger';
import { pipelineRoutes } from './routes/pipelines';
import { spawnRoutes } from './routes/spawn';
import { DEFAULT_WS_LIMITS, WS_CLOSE, wsRoutes, type WsLimits } from './routes/ws';
import spendPolicy from './spendPolicy';
import strictTypes from './strictTypes';
import tracingHooks from './tracing';

// The API: every route of the contract as a Fastify plugin with TypeBox schemas. It keeps no state of
// its own: it reads Temporal (queries, visibility), the ledger and the event store in Redis, and writes
// only through Temporal (start, signal, update).

declare module 'fastify' {
  interface FastifyInstance {
    temporal: Client;
    redis: Redis;
    ledger: LedgerReader;
    cfg: Config;
  }
}

export interface ApiDeps {
  temporal: Client;
  redis: Redis;
  ledger: LedgerReader;
  config: Config;
  logger: Logger;
  /** Per client IP and API process (default 600 requests a minute); /healthz is exempt. */
  rateLimit?: { max: number; timeWindowMs: number };
  ws?: Partial<WsLimits>;
  bodyLimitBytes?: number;
}

/**
 * Every route, registered after what the routes rely on: Fastify refuses to start when one of these
 * plugins or decorators is missing or comes later.
 */
const routes = fp(
  async (app: FastifyInstance, { ws }: { ws: WsLimits }) => {
    await app.register(healthRoutes);
    await app.register(spawnRoutes);
    await app.register(pipelineRoutes);
    await app.register(controlRoutes);
    await app.register(ledgerRoutes);
    await app.register(wsRoutes, { limits: ws });
    await app.register(dashboardRoutes);
  },
  {
    name: 'routes',
    encapsulate: true,
    dependencies: ['errors', 'docs', 'metrics', 'events', 'crossSite', 'auth', 'strictTypes', 'spendPolicy', '@fastify/websocket'],
    decorators: { fastify: ['temporal', 'redis', 'ledger', 'cfg'] },
  },
);

/** Fastify's own format, except that a pipeline id's pattern is said in words. */
function schemaErrorFormatter(errors: { instancePath?: string; message?: string; keyword: string; params: Record<string, unknown> }[], dataVar: string): Error {
  const said = (e: (typeof errors)[number]) =>
    e.keyword === 'pattern' && e.params.pattern === PIPELINE_ID_PATTERN.source ? `must be ${PIPELINE_ID_RULE}` : (e.message ?? 'is invalid');
  return new Error(errors.map((e) => `${dataVar}${e.instancePath ?? ''} ${said(e)}`).join(', '));
}

export async function buildServer(deps: ApiDeps) {
  const app = Fastify({
    // No coercion: a body's types are what it says ({"objective": 42} is a 400); query strings and path
    // parameters are converted where well-formed, by api/strictTypes.ts.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    schemaErrorFormatter,
    loggerInstance: deps.logger as FastifyBaseLogger,
    bodyLimit: deps.bodyLimitBytes ?? 64 * 1024,
    routerOptions: { maxParamLength: 200 },
    // The router's own refusals (a malformed URL, an over-long path parameter) in the contract's shape too.
    frameworkErrors: (err, _request, reply) => void (reply as FastifyReply).code(400).send(errorBody(400, err.message)),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.decorate('temporal', deps.temporal);
  app.decorate('redis', deps.redis);
  app.decorate('ledger', deps.ledger);
  app.decorate('cfg', deps.config);
  // First: the request's span and its logger's trace ids before anything else of the request runs.
  await app.register(tracingHooks);
  await app.register(errors);
  await app.register(docs);
  await app.register(metrics);
  await app.register(events);
  await app.register(websocket, {
    options: { maxPayload: 4096, handleProtocols: (protocols) => selectProtocol(protocols) },
    // Shutdown: clients hear 1001 and reconnect elsewhere with their `since`; silent ones are cut off.
    preClose(done) {
      for (const client of app.websocketServer.clients) {
        client.close(WS_CLOSE.shutdown, 'server shutting down');
        setTimeout(() => client.terminate(), 2000).unref();
      }
      done();
    },
  });
  await app.register(rateLimit, {
    global: true,
    max: deps.rateLimit?.max ?? 600,
    timeWindow: deps.rateLimit?.timeWindowMs ?? 60_000,
    // A socket that is already gone has no address; such requests share one bucket instead of crashing.
    keyGenerator: (request) => request.ip ?? 'unknown',
    errorResponseBuilder: (_request, context) => errorBody(429, `rate limit exceeded: at most ${context.max} requests per ${context.after}; retry later`),
  });
  await app.register(crossSite, { config: deps.config });
  await app.register(auth, { token: deps.config.API_TOKEN });
  await app.register(strictTypes);
  await app.register(spendPolicy, { config: deps.config });
  await app.register(routes, { ws: { ...DEFAULT_WS_LIMITS, ...deps.ws } });
  return app;
}
