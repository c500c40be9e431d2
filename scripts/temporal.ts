import { join } from 'node:path';
import { config } from '../lib/config';
import { connectClient, ensureSearchAttributes } from '../lib/temporal';
import { ensureLocalTemporal } from '../devstack/temporalServer';

// `npm run temporal`: a Temporal server for this machine. Uses the one that answers at
// TEMPORAL_ADDRESS if there is one; else starts the CLI's dev server (SQLite file under ./data, the
// contract's search attributes, Web UI on :8233) and keeps it running until Ctrl-C.

const cfg = config();

async function main(): Promise<void> {
  const dbFile = join(process.cwd(), 'data', 'temporal.db');
  const { address, server } = await ensureLocalTemporal(
    cfg.TEMPORAL_ADDRESS,
    { uiPort: 8233, dbFile, namespace: cfg.TEMPORAL_NAMESPACE, logFile: join(process.cwd(), 'data', 'temporal.log') },
    (line) => console.log(line),
  );
  if (!server) {
    const client = await connectClient(address, cfg.TEMPORAL_NAMESPACE);
    const added = await ensureSearchAttributes(client, cfg.TEMPORAL_NAMESPACE);
    await client.connection.close();
    console.log(`A Temporal server already answers at ${address}; using it${added.length ? ` (registered ${added.join(', ')})` : ''}.`);
    return;
  }
  console.log(`Temporal dev server at ${server.address} (history in ${dbFile}); Web UI at ${server.uiUrl}. Ctrl-C stops it.`);
  const stop = () => void server.stop().then(() => process.exit(0));
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  server.process.on('exit', (code) => {
    console.error(`the Temporal dev server exited (${code}); see data/temporal.log`);
    process.exit(1);
  });
}

main().catch((err: Error) => {
  console.error(`temporal: ${err.message}`);
  process.exit(1);
});
