import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { Connection } from '@temporalio/client';
import { operation } from '../docs';
import { errorsFor, HealthReply } from '../schemas';

// GET /healthz: 200 when Temporal, Redis and the ledger all answer, else 503 naming what is down.
// Public (probes carry no token) and not rate-limited.

const TIMEOUT_MS = 2000;

async function check(fn: () => unknown): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([fn(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('timed out')), TIMEOUT_MS)))]);
    return 'ok';
  } catch (err) {
    return `down: ${(err as Error).message}`;
  } finally {
    clearTimeout(timer);
  }
}

export const healthRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/healthz',
    {
      config: { public: true, rateLimit: false },
      schema: {
        ...operation('operations', 'getHealth', "Check the API's dependencies"),
        description: "dependencies' health",
        security: [],
        // 421: a Host name the API does not answer for (api/crossSite.ts), before any check.
        response: { 200: HealthReply, 503: HealthReply, ...errorsFor(421) },
      },
    },
    async (_request, reply) => {
      const [temporal, redis, ledger] = await Promise.all([
        check(() => (app.temporal.connection as Connection).healthService.check({})),
        check(() => app.redis.ping()),
        check(() => app.ledger.check()),
      ]);
      const checks = { temporal, redis, ledger };
      const ok = Object.values(checks).every((c) => c === 'ok');
      return reply.code(ok ? 200 : 503).send({ status: ok ? 'ok' : 'degraded', checks });
    },
  );
};
