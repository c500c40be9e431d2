import { createWriteStream } from 'node:fs';
import { pino, type Logger } from 'pino';
import { createLogger } from '../../lib/logger';
import { installRuntimeLogger } from '../../workers/runtime';

// Where the logs of a test file go: the run's log file (TEST_LOG_FILE, set by tests/run.ts), so the
// test output is the runner's report alone and a failure is not buried in worker logs. Without it
// (a file run by hand with `node --test`) they go to stdout as before.

const file = process.env.TEST_LOG_FILE;
// Synchronous: a test file's process may end right after its last test, before an async flush.
const destination = file ? pino.destination({ dest: file, append: true, sync: true }) : undefined;

export function testLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return createLogger(name, level, destination);
}

/** The Temporal SDK's logs of this process (workers, bundler, core) to the same place. Once per process. */
export function routeSdkLogs(level?: string): void {
  installRuntimeLogger(testLogger('test-worker', level));
}

let stream: NodeJS.WritableStream | undefined;

/** For child processes' output (e.g. workers started with startTs); undefined: drop it. */
export function testLogStream(): NodeJS.WritableStream | undefined {
  return file ? (stream ??= createWriteStream(file, { flags: 'a' })) : undefined;
}
