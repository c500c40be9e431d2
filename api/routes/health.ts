import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Connection } from '@temporalio/client';

// GET /healthz: 200 when Temporal, Redis and the ledger all answer, else 503 naming what is down.

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', async (_request, reply) => {
    const check = async (fn: () => Promise<unknown>): Promise<string> => {
      try {
        await Promise.race([fn(), new Promise((_, reject) => setTimeout(() => reject(new Error('timed out')), 2000))]);
        return 'ok';
      } catch (err) {
        return `down: ${(err as Error).message}`;
      }
    };
    const checks = {
      temporal: await check(() => (app.temporal.connection as Connection).healthService.check({})),
      redis: await check(() => app.redis.ping()),
      ledger: await check(async () => app.ledger.check()),
    };
    const ok = Object.values(checks).every((c) => c === 'ok');
    return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks });
  });
};
