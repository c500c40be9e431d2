import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTE_NAMES } from '../common/searchAttributes';

// Connecting to Temporal with an error that says what to do, instead of a gRPC stack trace.

export function temporalUnreachable(address: string, err: unknown): Error {
  return new Error(
    `Temporal is not reachable at ${address} (${(err as Error).message ?? err}). Start a dev server with \`npm run temporal\`, or set TEMPORAL_ADDRESS.`,
  );
}

export async function connectClient(address: string, namespace: string, timeoutMs = 5000): Promise<Client> {
  try {
    const connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    await connection.healthService.check({});
    return new Client({ connection, namespace });
  } catch (err) {
    throw temporalUnreachable(address, err);
  }
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
