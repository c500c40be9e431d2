import { join } from 'node:path';
import { config } from '../lib/config';
import { connectClient, ensureSearchAttributes } from '../lib/temporal';
import { ensureTemporalCli, isTemporalUp, startDevServer } from '../devstack/temporalServer';

// `npm run temporal`: a Temporal server for this machine. Uses the one that answers at
// TEMPORAL_ADDRESS if there is one; else starts the CLI's dev server (SQLite file under ./data, the
// contract's search attributes, Web UI on :8233) and keeps it running until Ctrl-C.

const cfg = config();

async function main(): Promise<void> {
  if (await isTemporalUp(cfg.TEMPORAL_ADDRESS)) {
    const client = await connectClient(cfg.TEMPORAL_ADDRESS, cfg.TEMPORAL_NAMESPACE);
    const added = await ensureSearchAttributes(client, cfg.TEMPORAL_NAMESPACE);
    await client.connection.close();
    console.log(`A Temporal server already answers at ${cfg.TEMPORAL_ADDRESS}; using it${added.length ? ` (registered ${added.join(', ')})` : ''}.`);
    return;
  }
  const [host, port] = cfg.TEMPORAL_ADDRESS.split(':');
  if (!['localhost', '127.0.0.1'].includes(host!)) {
    throw new Error(`nothing answers at TEMPORAL_ADDRESS=${cfg.TEMPORAL_ADDRESS}, and a dev server can only be started on this machine`);
  }
  const cli = await ensureTemporalCli();
  const dbFile = join(process.cwd(), 'data', 'temporal.db');
  const server = await startDevServer({
    cli,
    port: Number(port),
    uiPort: 8233,
    dbFile,
    namespace: cfg.TEMPORAL_NAMESPACE,
    logFile: join(process.cwd(), 'data', 'temporal.log'),
  });
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
