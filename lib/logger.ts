import { pino, type DestinationStream, type Logger } from 'pino';
import { traceIds } from './traceLog';

// One pino JSON logger for every process. Secrets are redacted by path as a second line of defence;
// the first is never putting them in log calls at all. The destination is stdout unless given: the
// test run sends its workers' logs to a file, out of the test report.
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info', destination?: DestinationStream): Logger {
  return pino(
    {
      name,
      level,
      base: { service: name },
      // trace_id and span_id of the span active where the line is written (lib/traceLog.ts).
      mixin: traceIds,
      redact: {
        paths: ['apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization', 'password', '*.password', 'token', '*.token'],
        censor: '[redacted]',
      },
    },
    destination,
  );
}
