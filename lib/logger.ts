import { pino, type Logger } from 'pino';

// One pino JSON logger for every process. Secrets are redacted by path as a second line of defence;
// the first is never putting them in log calls at all.
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({
    name,
    level,
    base: { service: name },
    redact: {
      paths: ['apiKey', '*.apiKey', 'authorization', '*.authorization', 'headers.authorization', 'password', '*.password', 'token', '*.token'],
      censor: '[redacted]',
    },
  });
}
