import { Client, Connection } from '@temporalio/client';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_NAMES } from '../common/searchAttributes';

// Connecting to Temporal with an error that says what to do, instead of a gRPC stack trace.

/**
 * How long a process keeps trying to reach Temporal at start. A dev server that has just printed its
 * banner on a busy 2-core machine (the CLI built a moment ago, a fresh SQLite file) can take tens of
 * seconds to accept connections, and a worker started beside its server (compose) has the same race.
 */
export const CONNECT_DEADLINE_MS = 60_000;

export function temporalUnreachable(address: string, err: unknown, waited?: { ms: number; attempts: number }): Error {
  const tried = waited ? ` after ${Math.round(waited.ms / 1000)}s and ${waited.attempts} attempt${waited.attempts === 1 ? '' : 's'}` : '';
  return new Error(
    `Temporal is not reachable at ${address}${tried} (${(err as Error).message ?? err}). Start a dev server with \`npm run temporal\`, or set TEMPORAL_ADDRESS.`,
  );
}

/**
 * Runs `attempt` until it succeeds or `deadlineMs` has passed, then throws temporalUnreachable. Each
 * attempt opens a connection of its own with a bounded timeout: one gRPC channel left to retry by
 * itself backs off exponentially, and after a minute of refusals it would notice a server that has
 * come up only tens of seconds later.
 */
export async function retryConnect<T>(address: string, attempt: (timeoutMs: number) => Promise<T>, deadlineMs = CONNECT_DEADLINE_MS): Promise<T> {
  const started = Date.now();
  const deadline = started + deadlineMs;
  for (let attempts = 1; ; attempts++) {
    try {
      // Later attempts get longer: a server that accepts but answers slowly needs more than the first.
      return await attempt(Math.max(1000, Math.min(deadline - Date.now(), 5000 * attempts)));
    } catch (err) {
      if (Date.now() + 500 >= deadline) throw temporalUnreachable(address, err, { ms: Date.now() - started, attempts });
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/**
 * A connection whose server has answered a health check within `timeoutMs`, else closed again.
 * Connection.connect cannot be used for this: when it fails it leaves its gRPC channel open, and that
 * channel goes on retrying with a growing backoff in grpc-js's process-wide subchannel pool, where a
 * later connection to the same address picks up its backoff. A demo that probed localhost:7233, built
 * the CLI for minutes, then connected to the new server, waited out that backoff and timed out.
 */
export async function openConnection(address: string, timeoutMs: number): Promise<Connection> {
  const connection = Connection.lazy({ address, connectTimeout: timeoutMs });
  try {
    await connection.ensureConnected();
    await connection.withDeadline(Date.now() + timeoutMs, () => connection.healthService.check({}));
    return connection;
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
}

/**
 * A client whose server has answered a health check; retries for up to `deadlineMs`. Its calls are
 * traced (StartWorkflow, SignalWorkflow, QueryWorkflow... spans) and carry the caller's trace to the
 * workflow in a header (lib/tracing.ts; without it the spans are no-ops and the header is empty).
 */
export async function connectClient(address: string, namespace: string, deadlineMs = CONNECT_DEADLINE_MS): Promise<Client> {
  return retryConnect(
    address,
    async (timeoutMs) =>
      new Client({
        connection: await openConnection(address, timeoutMs),
        namespace,
        interceptors: { workflow: [new OpenTelemetryWorkflowClientInterceptor()] },
      }),
    deadlineMs,
  );
}

/** Registers the contract's Keyword search attributes that the namespace lacks; returns those added. */
export async function ensureSearchAttributes(client: Client, namespace: string): Promise<string[]> {
  const existing = await client.connection.operatorService.listSearchAttributes({ namespace });
  const missing = SEARCH_ATTRIBUTE_NAMES.filter((n) => !(n in (existing.customAttributes ?? {})));
  if (missing.length === 0) return [];
  await client.connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((n) => [n, proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
  });
  return missing;
}
