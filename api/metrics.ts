import { Type } from '@fastify/type-provider-typebox';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { operation } from './docs';
import { errorsFor } from './schemas';
import { pipelineIdFromWorkflowId } from '../common/ids';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { collectProcessMetrics } from '../lib/metrics/series';

// Prometheus metrics at GET /metrics. One registry per server (tests build several in one process).
// The API's own HTTP and WebSocket series, and what Temporal's visibility tells of every pipeline (outbox
// stalls, waits at REPORT); the pipeline and LLM series are the worker's (lib/metrics/series.ts).

export interface ApiMetrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status_code'>;
  httpDuration: Histogram<'method' | 'route' | 'status_code'>;
  wsClients: Gauge;
  wsDropped: Counter<'reason'>;
  outboxStalled: Gauge<'target'>;
  reportWaiting: Gauge;
  reportOldestWait: Gauge;
}

/** A visibility call that takes longer than this is left out of the scrape rather than holding /metrics. */
const VISIBILITY_TIMEOUT_MS = 2000;
/** Pipelines at REPORT looked at for the oldest wait: enough for an alert; the count has no bound. */
const REPORT_SCAN_LIMIT = 1000;
/** This deployment's pipelines (the API's task queue) waiting at REPORT. */
const reportQuery = (app: FastifyInstance): string =>
  `PipelineStatus = "REPORT" AND ExecutionStatus = "Running" AND TaskQueue = "${app.cfg.TEMPORAL_TASK_QUEUE.replace(/["\\]/g, '')}"`;

function withTimeout<T>(p: Promise<T>): Promise<T> {
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), VISIBILITY_TIMEOUT_MS).unref());
  return Promise.race([p, timeout]);
}

/**
 * Seconds the longest-waiting pipeline at REPORT has waited: since its phase_changed to REPORT in the
 * ledger, or since it started when the ledger does not have that event yet (an upper bound). Undefined
 * when none waits.
 */
async function oldestReportWait(app: FastifyInstance): Promise<number | undefined> {
  const started = new Map<string, number>();
  for await (const wf of app.temporal.workflow.list({ query: reportQuery(app), pageSize: REPORT_SCAN_LIMIT })) {
    started.set(pipelineIdFromWorkflowId(wf.workflowId), wf.startTime.getTime());
    if (started.size >= REPORT_SCAN_LIMIT) break;
  }
  if (!started.size) return undefined;
  let entered = new Map<string, string>();
  try {
    entered = app.ledger.reportEnteredAt([...started.keys()]);
  } catch {
    // Ledger not readable (not created yet): the start times stand in.
  }
  const since = Math.min(...[...started].map(([id, start]) => (entered.has(id) ? Date.parse(entered.get(id)!) : start)));
  return Math.max(0, (Date.now() - since) / 1000);
}

/** The API's series; `app` is read only at scrape time (visibility, ledger, task queue). */
export function createApiMetrics(app: FastifyInstance): ApiMetrics {
  const registry = new Registry();
  collectProcessMetrics(registry);
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
          await withTimeout(app.temporal.workflow.count(query)).then(
            ({ count }) => this.set({ target }, count),
            () => this.remove({ target }),
          );
        }
      },
    }),
    // From visibility too (the PipelineStatus search attribute), so every API process reports the same.
    reportWaiting: new Gauge({
      name: 'pipelines_waiting_report',
      help: 'Running pipelines waiting at REPORT for approval (the continue update)',
      registers: [registry],
      async collect() {
        await withTimeout(app.temporal.workflow.count(reportQuery(app))).then(
          ({ count }) => this.set(count),
          // Unknown, not zero: an alert on it must not read "none waiting" while Temporal is unreachable.
          () => this.set(Number.NaN),
        );
      },
    }),
    reportOldestWait: new Gauge({
      name: 'pipeline_report_oldest_wait_seconds',
      help: 'How long the longest-waiting pipeline at REPORT has waited for approval (0 when none waits)',
      registers: [registry],
      async collect() {
        await withTimeout(oldestReportWait(app)).then(
          (seconds) => this.set(seconds ?? 0),
          () => this.set(Number.NaN),
        );
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
  const metrics = createApiMetrics(app);
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
