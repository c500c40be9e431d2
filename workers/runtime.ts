import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';
import { parseWorkflowId } from '../common/ids';

// Routes the Temporal SDK's logs (worker, workflow and activity loggers, and core's) into pino, with the pipeline
// id next to the workflow and run ids; and, in a worker process, serves the SDK's own metrics (workflow and
// activity task latencies, pollers, sticky cache, slots) with its Prometheus exporter. One Runtime per process.

const LEVELS: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' };

let installed = false;

export interface RuntimeOptions {
  /** host:port for the SDK's Prometheus exporter (WORKER_METRICS_HOST:WORKER_SDK_METRICS_PORT); none when absent. */
  sdkMetricsAddress?: string;
}

export function installRuntimeLogger(logger: Logger, opts: RuntimeOptions = {}): void {
  if (installed) return;
  installed = true;
  Runtime.install({
    logger: new DefaultLogger(LEVELS[logger.level] ?? 'INFO', (entry) => {
      const meta: Record<string, unknown> = { ...(entry.meta ?? {}) };
      const workflowId = meta.workflowId;
      if (typeof workflowId === 'string' && meta.pipelineId === undefined) {
        const id = parseWorkflowId(workflowId);
        if (id) meta.pipelineId = id.pipelineId;
      }
      const method = entry.level.toLowerCase() as 'trace' | 'debug' | 'info' | 'warn' | 'error';
      logger[method](meta, entry.message);
    }),
    // The SDK core's own logs (connection retries, poll errors) would otherwise go straight to the
    // console as text, past pino and past wherever this logger writes.
    telemetryOptions: {
      logging: { forward: {} },
      ...(opts.sdkMetricsAddress
        ? {
            // Names as Prometheus expects them (promtool check metrics): counters end in _total,
            // histograms carry their unit, durations in seconds.
            metrics: { prometheus: { bindAddress: opts.sdkMetricsAddress, countersTotalSuffix: true, unitSuffix: true, useSecondsForDurations: true } },
          }
        : {}),
    },
  });
}
