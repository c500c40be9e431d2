import { DefaultLogger, Runtime, type LogLevel } from '@temporalio/worker';
import type { Logger } from 'pino';
import { parseWorkflowId } from '../common/ids';

// Routes the Temporal SDK's logs (worker, workflow and activity loggers, and core's) into pino, with the pipeline
// id next to the workflow and run ids.

const LEVELS: Record<string, LogLevel> = { trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' };

let installed = false;

export function installRuntimeLogger(logger: Logger): void {
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
    telemetryOptions: { logging: { forward: {} } },
  });
}
