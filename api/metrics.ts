import { Type } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { operation } from './docs';
import { errorsFor } from './schemas';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

// Prometheus metrics at GET /metrics. One registry per server (tests build several in one process);
// pipeline metrics can be added later by registering them on `app.metrics.registry`.

export interface ApiMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  wsClients: Gauge;
  wsDropped: Counter<'reason'>;
  outboxStalled: Gauge<'target'>;
}

function createMetrics(app: FastifyInstance): ApiMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const labelNames = ['method', 'route', 'status_code'] as const;
  return {
    registry,
    httpRequests: new Counter({ name: 'http_requests_total', help: 'HTTP requests answered, by route and status', labelNames, registers: [registry] }),
    httpDuration: new Histogram({
      name: 'http_request_duration_seconds',
      help: 'HTTP request duration, by route and status',
      labelNames,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    wsClients: new Gauge({ name: 'ws_clients', help: 'WebSocket clients connected to /ws', registers: [registry] }),
    wsDropped: new Counter({
      name: 'ws_clients_dropped_total',
      help: 'WebSocket clients closed by the server, by reason (slow: fell too far behind)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    // Read at scrape time from Temporal's visibility (the OutboxStalled search attribute the outbox
    // sets while it cannot write): no state of its own, and true for every worker and API process.
    outboxStalled: new Gauge({
      name: 'outbox_stalled_pipelines',
      help: 'Running pipelines whose outbox cannot write, by what it waits for (ledger: nothing more is recorded; redis: watchers lag)',
      labelNames: ['target'],
      registers: [registry],
      async collect() {
        for (const target of ['ledger', 'redis']) {
          const query = `OutboxStalled = "${target}" AND ExecutionStatus = "Running"`;
          // Temporal unreachable or slow: the series is left out of this scrape rather than failing or holding /metrics.
          const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), 2000).unref());
          await Promise.race([app.temporal.workflow.count(query), timeout]).then(
            ({ count }) => this.set({ target }, count),
            () => this.remove({ target }),
          );
        }
      },
    }),
  };
}

declare module 'fastify' {
  interface FastifyInstance {
    metrics: ApiMetrics;
  }
}

async function metricsPlugin(app: FastifyInstance): Promise<void> {
  const metrics = createMetrics(app);
  app.decorate('metrics', metrics);
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, not the URL: ids in paths would make one series per pipeline.
    const labels = { method: request.method, route: request.routeOptions.url ?? '(unmatched)', status_code: String(reply.statusCode) };
    metrics.httpRequests.inc(labels);
    metrics.httpDuration.observe(labels, reply.elapsedTime / 1000);
  });
  app.get(
    '/metrics',
    {
      schema: {
        ...operation('operations', 'getMetrics', "The API's Prometheus metrics"),
        description: 'Prometheus text format',
        produces: ['text/plain'],
        response: { 200: Type.String(), ...errorsFor(401) },
      },
    },
    async (_request, reply) => {
      const body = await metrics.registry.metrics();
      return reply.type(metrics.registry.contentType).send(body);
    },
  );
}

/** After 'docs', which then lists /metrics. */
export default fp(metricsPlugin, { name: 'metrics', dependencies: ['docs'] });
