import type { Client } from '@temporalio/client';
import type proto from '@temporalio/proto';

// Who ran what, read from histories: the `identity` a worker gives in WorkflowTaskStarted and
// ActivityTaskStarted, over a pipeline and its agents' child workflows. The scale-out test asks it
// whether the work was spread across worker processes.

type History = proto.temporal.api.history.v1.IHistory;

export interface WorkTally {
  /** Workflow tasks started, by worker identity. */
  workflowTasks: Map<string, number>;
  /** Activity tasks started, by activity type, then by worker identity. */
  activities: Map<string, Map<string, number>>;
  /** Activity tasks started, by task queue, then by worker identity. */
  queues: Map<string, Map<string, number>>;
  /** Workflow executions read (the pipelines and their children). */
  workflows: number;
}

export const emptyTally = (): WorkTally => ({ workflowTasks: new Map(), activities: new Map(), queues: new Map(), workflows: 0 });

const bump = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);
const bumpIn = (m: Map<string, Map<string, number>>, key: string, identity: string) => {
  const inner = m.get(key) ?? new Map<string, number>();
  m.set(key, inner);
  bump(inner, identity);
};

/** Adds one history's workflow and activity tasks to `tally`; returns its child workflows' ids. */
export function tallyHistory(history: History, tally: WorkTally): string[] {
  const scheduledAs = new Map<string, { type: string; queue: string }>();
  const children: string[] = [];
  tally.workflows++;
  for (const e of history.events ?? []) {
    const id = String(e.eventId);
    const wft = e.workflowTaskStartedEventAttributes;
    if (wft) bump(tally.workflowTasks, wft.identity || '(none)');
    const scheduled = e.activityTaskScheduledEventAttributes;
    if (scheduled) scheduledAs.set(id, { type: scheduled.activityType?.name ?? '(unknown)', queue: scheduled.taskQueue?.name ?? '(unknown)' });
    const started = e.activityTaskStartedEventAttributes;
    if (started) {
      const { type, queue } = scheduledAs.get(String(started.scheduledEventId)) ?? { type: '(unknown)', queue: '(unknown)' };
      bumpIn(tally.activities, type, started.identity || '(none)');
      bumpIn(tally.queues, queue, started.identity || '(none)');
    }
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId;
    if (child) children.push(child);
  }
  return children;
}

/** The tally over the workflows `workflowIds` and, transitively, the child workflows they started. */
export async function tallyWork(client: Client, workflowIds: string[]): Promise<WorkTally> {
  const tally = emptyTally();
  const queue = [...workflowIds];
  while (queue.length) {
    const batch = queue.splice(0, 10);
    const histories = await Promise.all(batch.map((id) => client.workflow.getHandle(id).fetchHistory()));
    for (const h of histories) queue.push(...tallyHistory(h, tally));
  }
  return tally;
}

/** The counts of `of` added up by identity, over every key but `except`. */
export function byIdentity(of: Map<string, Map<string, number>>, except: readonly string[] = []): Map<string, number> {
  const out = new Map<string, number>();
  for (const [key, counts] of of) {
    if (except.includes(key)) continue;
    for (const [identity, n] of counts) out.set(identity, (out.get(identity) ?? 0) + n);
  }
  return out;
}

/** `{a: 3, b: 5}` as text, for assertion messages. */
export const show = (m: Map<string, number>): string =>
  [...m]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
