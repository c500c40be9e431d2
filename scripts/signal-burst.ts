import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureTemporalCli, freePort, startDevServer } from '../devstack/temporalServer';

// `tsx scripts/signal-burst.ts --signals 3000 [--activation-timeout-ms 5000]`: the worker crash of a
// signal flood, reproduced without the pipeline. The signals are sent before any worker polls, so the
// workflow's first activation carries all of them; then a worker with the given sandbox limit
// (isolateExecutionTimeout; the SDK's default is 5000) runs it. With the default and a few thousand
// signals on a busy machine, the activation outlives the limit and the process aborts with "async hook
// stack has become corrupted"; with the limit workers/create.ts sets, it completes. Starts a dev server of
// its own on a free port.

const { values } = parseArgs({ options: { signals: { type: 'string', default: '3000' }, 'activation-timeout-ms': { type: 'string' } } });
const count = Number(values.signals);
const limit = values['activation-timeout-ms'] ? Number(values['activation-timeout-ms']) : undefined;

Runtime.install({ logger: new DefaultLogger('WARN') });
const server = await startDevServer({ cli: await ensureTemporalCli(), port: await freePort() });
try {
  const client = new Client({ connection: await Connection.connect({ address: server.address }) });
  const taskQueue = `signal-burst-${Date.now()}`;
  const handle = await client.workflow.start('burstTarget', { taskQueue, workflowId: taskQueue });
  for (let sent = 0; sent < count; sent += 100) {
    await Promise.all(Array.from({ length: Math.min(100, count - sent) }, () => handle.signal('poke', { reason: 'NOPE' })));
  }
  await handle.signal('done');
  console.log(`${count} signals sent before any worker polled; running the worker (activation limit ${limit ?? 'the SDK default, 5000'} ms)`);
  const worker = await Worker.create({
    connection: await NativeConnection.connect({ address: server.address }),
    taskQueue,
    workflowsPath: fileURLToPath(new URL('./signalBurst/workflows.ts', import.meta.url)),
    // Not in WorkerOptions' type, though the SDK honours it (see workers/create.ts).
    ...(limit ? ({ isolateExecutionTimeout: limit } as object) : {}),
  });
  const started = Date.now();
  const pokes = await worker.runUntil(handle.result());
  console.log(`the workflow saw ${pokes} signals; completed ${Date.now() - started} ms after the worker started`);
} finally {
  await server.stop();
}
