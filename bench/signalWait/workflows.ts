import { condition, defineSignal, getExternalWorkflowHandle, proxyActivities, setHandler, startChild, workflowInfo } from '@temporalio/workflow';
import type { activities } from './run';

// The smallest pair of workflows that shows the wait measured in P1's critical path: a parent and a
// child on one worker that signal each other while the parent runs an activity, on its own task queue
// (`same`) or another one (`other`, as the pipeline's outbox batch on the ledger queue).

const ping = defineSignal<[number]>('ping');
const pong = defineSignal<[number]>('pong');
const ROUNDS = 6;

export async function signalWaitChild(): Promise<void> {
  const own = proxyActivities<typeof activities>({ startToCloseTimeout: '10s' });
  const parent = getExternalWorkflowHandle(workflowInfo().parent!.workflowId);
  let got = 0;
  setHandler(ping, (i) => void (got = i));
  for (let n = 1; n <= ROUNDS; n++) {
    await condition(() => got >= n);
    await own.work(50);
    await parent.signal(pong, n);
  }
}

export async function signalWaitParent(queue: 'same' | 'other', otherQueue: string): Promise<void> {
  const acts = proxyActivities<typeof activities>({ startToCloseTimeout: '10s', ...(queue === 'other' ? { taskQueue: otherQueue } : {}) });
  let ponged = 0;
  setHandler(pong, (i) => void (ponged = i));
  const child = await startChild(signalWaitChild, { workflowId: `${workflowInfo().workflowId}-child` });
  for (let i = 1; i <= ROUNDS; i++) {
    const work = acts.work(5);
    await child.signal(ping, i);
    await work;
    await condition(() => ponged >= i);
  }
  await child.result();
}
