import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { startStack } from '../../devstack/stack';

// `npx tsx bench/signalWait/run.ts`: the 30–50 ms waits seen in P1's critical path, reproduced without
// the pipeline (README, "Per-call cost"). Prints, for a parent workflow and its child signalling each
// other on one worker, each workflow task's wait (scheduled → started) and each activity's dispatch
// (scheduled → started), with the activity on the workflow's own task queue and on another. Uses
// TEMPORAL_ADDRESS when set (to try a server's settings), else a dev server of its own. The cause:
// the server's transfer queue reads at most 20 times a second per history shard (one on the dev
// server); `TEMPORAL_DYNAMIC_CONFIG=history.transferProcessorMaxPollRPS=1000` takes the waits to ~2 ms.
// It also prints what one workflow task costs with nothing in it: each task's run (started →
// completed in the history), and the SDK's own view from its metrics (the task's execution in the
// worker, and the RespondWorkflowTaskCompleted call inside it): the floor under every task of P1's path.

export const activities = {
  async work(ms: number): Promise<number> {
    await new Promise((r) => setTimeout(r, ms));
    return ms;
  },
};

type Event = NonNullable<Awaited<ReturnType<ReturnType<Client['workflow']['getHandle']>['fetchHistory']>>['events']>[number];
const at = (e: Event): number => Number(e.eventTime!.seconds) * 1000 + (e.eventTime!.nanos ?? 0) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** A free local port, for the SDK's Prometheus exporter. */
const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });

/** Sum ÷ count of a Prometheus series over all its labels, in ms (the exporter reports seconds). */
function meanMs(metrics: string, name: string, labelFilter = ''): number {
  const total = (suffix: string) =>
    metrics
      .split('\n')
      .filter((l) => l.startsWith(`${name}_${suffix}{`) && l.includes(labelFilter))
      .reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
  return (total('sum') / total('count')) * 1000;
}

async function main(): Promise<void> {
  const metricsAddress = `127.0.0.1:${await freePort()}`;
  Runtime.install({ telemetryOptions: { metrics: { prometheus: { bindAddress: metricsAddress, useSecondsForDurations: true } } } });
  const stack = await startStack({ log: () => undefined });
  const address = stack.env.TEMPORAL_ADDRESS!;
  const taskQueue = `signal-wait-${Date.now().toString(36)}`;
  const otherQueue = `${taskQueue}-other`;
  const connection = await NativeConnection.connect({ address });
  const workers = [
    await Worker.create({ connection, taskQueue, workflowsPath: join(import.meta.dirname, 'workflows.ts'), activities }),
    await Worker.create({ connection, taskQueue: otherQueue, activities }),
  ];
  const running = Promise.all(workers.map((w) => w.run()));
  const client = new Client({ connection: await Connection.connect({ address }) });
  try {
    for (const queue of ['same', 'other', 'same', 'other'] as const) {
      const handle = await client.workflow.start('signalWaitParent', {
        taskQueue,
        workflowId: `${taskQueue}-${queue}-${Date.now()}`,
        args: [queue, otherQueue],
      });
      await handle.result();
      for (const id of [handle.workflowId, `${handle.workflowId}-child`]) {
        const events = (await client.workflow.getHandle(id).fetchHistory()).events ?? [];
        const byId = new Map(events.map((e) => [Number(e.eventId), e]));
        const waits = events.flatMap((e, i) => (e.workflowTaskStartedEventAttributes && events[i - 1] ? [at(e) - at(events[i - 1]!)] : []));
        const dispatch = events.flatMap((e) => {
          const scheduled = e.activityTaskStartedEventAttributes && byId.get(Number(e.activityTaskStartedEventAttributes.scheduledEventId));
          return scheduled ? [at(e) - at(scheduled)] : [];
        });
        const runs = events.flatMap((e, i) => (e.workflowTaskCompletedEventAttributes && events[i - 1] ? [at(e) - at(events[i - 1]!)] : []));
        const ms = (xs: number[]) => xs.map((x) => x.toFixed(0)).join(' ');
        console.log(
          `${queue.padEnd(5)} ${id.endsWith('-child') ? 'child ' : 'parent'}  workflow task waits (ms): ${ms(waits)} (median ${median(waits).toFixed(1)})  runs (ms): ${ms(runs)} (median ${median(runs).toFixed(1)})  activity dispatch (ms): ${ms(dispatch)}`,
        );
      }
    }
    const metrics = await (await fetch(`http://${metricsAddress}/metrics`)).text();
    console.log(
      `the SDK, per workflow task: executed in ${meanMs(metrics, 'temporal_workflow_task_execution_latency').toFixed(1)} ms on average, ` +
        `the RespondWorkflowTaskCompleted call that ends it ${meanMs(metrics, 'temporal_request_latency', 'operation="RespondWorkflowTaskCompleted"').toFixed(1)} ms`,
    );
  } finally {
    workers.forEach((w) => w.shutdown());
    await running;
    await client.connection.close();
    await connection.close();
    await stack.stop();
  }
}

await main();
