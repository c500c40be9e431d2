import proto from '@temporalio/proto';
import type { Client } from '@temporalio/client';

// Where a pipeline's wall time goes, from its histories alone (the pipeline's and its agents'): the
// chain of events that ended the pipeline is walked back from WorkflowExecutionCompleted, each event to
// the one that caused it (a workflow task to its trigger, an activity's completion to its start, a
// signal to the command that sent it, a child's start to the parent's command), and every step's time
// is put in one category. The categories sum to the pipeline's run time on the server.

type Event = proto.temporal.api.history.v1.IHistoryEvent;
const EventType = proto.temporal.api.enums.v1.EventType;

export const CATEGORIES = {
  llm: 'LLM call (the simulated latency)',
  activityRun: 'activity: beyond the LLM call',
  activityDispatch: 'activity: scheduled → started',
  wftWait: 'workflow task: scheduled → started',
  wftRun: 'workflow task: started → completed (worker)',
  wftTrigger: 'workflow task: trigger → scheduled',
  signal: 'signal between workflows: sent → received',
  childStart: 'child workflow: start command → started',
  childResult: 'child workflow: completed → parent told',
  timer: 'timer',
  command: 'command recorded (after its task)',
  other: 'other',
} as const;
export type Category = keyof typeof CATEGORIES;

export interface Breakdown {
  /** The pipeline's WorkflowExecutionStarted → WorkflowExecutionCompleted, ms. */
  totalMs: number;
  ms: Record<Category, number>;
  /** How many steps of each kind were on the path. */
  steps: Record<Category, number>;
  /** Workflow tasks on the path (each a server round trip to a worker). */
  workflowTasks: number;
  /** The path from the start, one line a step: ms, category, workflow (its id after the pipeline's), event. */
  path: string[];
}

interface Node {
  wf: string;
  i: number;
  ev: Event;
  t: number;
}

const ms = (ev: Event): number => {
  const ts = ev.eventTime;
  if (!ts) return 0;
  return Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6;
};

/**
 * The simulated latency a callAgent activity reported in its result (JSON payload), 0 for others. A
 * local activity's (LLM_CALLS=worker) is in its marker, recorded with the workflow task it ran in.
 */
function simulatedLatency(ev: Event): number {
  const payload =
    ev.activityTaskCompletedEventAttributes?.result?.payloads?.[0] ??
    (ev.markerRecordedEventAttributes?.markerName === LOCAL_ACTIVITY_MARKER ? ev.markerRecordedEventAttributes.details?.result?.payloads?.[0] : undefined);
  if (!payload?.data) return 0;
  try {
    const r = JSON.parse(Buffer.from(payload.data).toString('utf8')) as { simulatedLatencyMs?: unknown };
    return typeof r.simulatedLatencyMs === 'number' ? r.simulatedLatencyMs : 0;
  } catch {
    return 0;
  }
}

/** The SDK's marker for a local activity's result. */
const LOCAL_ACTIVITY_MARKER = 'core_local_activity';

/**
 * `histories`: workflow id → events, the pipeline's first. Only one run per workflow id is read (the
 * latest): a pipeline that continued as new is measured from its last run's start.
 */
export function criticalPath(pipelineId: string, histories: Map<string, Event[]>): Breakdown {
  const byId = new Map<string, Map<number, Node>>();
  for (const [wf, events] of histories) {
    const m = new Map<number, Node>();
    events.forEach((ev, i) => m.set(Number(ev.eventId), { wf, i, ev, t: ms(ev) }));
    byId.set(wf, m);
  }
  const node = (wf: string, eventId: unknown): Node | undefined => byId.get(wf)?.get(Number(eventId));
  const at = (wf: string, i: number): Node | undefined => {
    const ev = histories.get(wf)?.[i];
    return ev ? node(wf, ev.eventId) : undefined;
  };

  // Signals between workflows: the nth SignalExternal… from A to B with name S is B's nth signal S from
  // A (a client's signals have no sending event and are not matched).
  const sent = new Map<string, Node[]>();
  for (const [wf, events] of histories) {
    events.forEach((ev) => {
      const a = ev.signalExternalWorkflowExecutionInitiatedEventAttributes;
      if (a) {
        const k = `${wf}|${a.workflowExecution?.workflowId}|${a.signalName}`;
        (sent.get(k) ?? sent.set(k, []).get(k)!).push(node(wf, ev.eventId)!);
      }
    });
  }
  const received = new Map<Node, Node>();
  for (const [wf, events] of histories) {
    const count = new Map<string, number>();
    events.forEach((ev) => {
      const a = ev.workflowExecutionSignaledEventAttributes;
      if (!a) return;
      const sender = a.externalWorkflowExecution?.workflowId;
      // Only signals from a workflow carry its identity: those from a client are not on a sender's list.
      if (!sender) return;
      const k = `${sender}|${wf}|${a.signalName}`;
      const from = sent.get(k);
      const n = count.get(k) ?? 0;
      if (from?.[n]) {
        received.set(node(wf, ev.eventId)!, from[n]);
        count.set(k, n + 1);
      }
    });
  }
  const childInitiated = new Map<string, Node>();
  const childCompleted = new Map<string, Node>();
  for (const [wf, events] of histories) {
    for (const ev of events) {
      const a = ev.startChildWorkflowExecutionInitiatedEventAttributes;
      if (a?.workflowId) childInitiated.set(a.workflowId, node(wf, ev.eventId)!);
    }
    const last = events.at(-1);
    if (last?.eventType === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED) childCompleted.set(wf, node(wf, last.eventId)!);
  }

  const result: Breakdown = {
    totalMs: 0,
    ms: Object.fromEntries(Object.keys(CATEGORIES).map((k) => [k, 0])) as Record<Category, number>,
    steps: Object.fromEntries(Object.keys(CATEGORIES).map((k) => [k, 0])) as Record<Category, number>,
    workflowTasks: 0,
    path: [],
  };
  const pipeline = histories.get(pipelineId);
  if (!pipeline?.length) return result;
  const add = (c: Category, d: number) => {
    result.ms[c] += Math.max(0, d);
    result.steps[c] += 1;
  };
  const typeName = (t: unknown) => String(EventType[t as number] ?? t).replace(/^EVENT_TYPE_/, '');
  const step = (n: Node, category: string, d: number) =>
    result.path.push(
      `${d.toFixed(1).padStart(7)} ms  ${category.padEnd(16)} ${n.wf === pipelineId ? 'pipeline' : n.wf.slice(pipelineId.length + 1) || n.wf} #${String(n.ev.eventId)} ${typeName(n.ev.eventType)}`,
    );

  /** The simulated latency of the local calls (LLM_CALLS=worker) each workflow task ran, by `<workflow id>#<its completed event id>`. */
  const localCallsLatency = new Map<string, number>();
  for (const [wf, events] of histories) {
    for (const e of events) {
      const task = e.markerRecordedEventAttributes?.workflowTaskCompletedEventId;
      if (task === undefined || task === null) continue;
      const k = `${wf}#${String(task)}`;
      localCallsLatency.set(k, (localCallsLatency.get(k) ?? 0) + simulatedLatency(e));
    }
  }

  /** The event that caused `n`, and the category of the time between them; undefined at the start. */
  const cause = (n: Node): [Node, Category | null] | undefined => {
    const ev = n.ev;
    const T = EventType;
    switch (ev.eventType) {
      case T.EVENT_TYPE_WORKFLOW_TASK_STARTED: {
        const s = node(n.wf, ev.workflowTaskStartedEventAttributes?.scheduledEventId);
        return s && [s, 'wftWait'];
      }
      case T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED: {
        result.workflowTasks += 1;
        const s = node(n.wf, ev.workflowTaskCompletedEventAttributes?.startedEventId);
        if (!s) return undefined;
        // Calls in the agent's worker ran inside this task: their latency is the LLM's, not the worker's.
        const llm = Math.min(localCallsLatency.get(`${n.wf}#${String(ev.eventId)}`) ?? 0, n.t - s.t);
        if (llm === 0) return [s, 'wftRun'];
        add('llm', llm);
        add('wftRun', n.t - s.t - llm);
        step(n, 'llm+wftRun', n.t - s.t);
        return [s, null]; // counted here, split in two
      }
      case T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED: {
        const prev = at(n.wf, n.i - 1);
        return prev && [prev, 'wftTrigger'];
      }
      case T.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const s = node(n.wf, ev.activityTaskStartedEventAttributes?.scheduledEventId);
        return s && [s, 'activityDispatch'];
      }
      case T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
      case T.EVENT_TYPE_ACTIVITY_TASK_FAILED:
      case T.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT: {
        const a = ev.activityTaskCompletedEventAttributes ?? ev.activityTaskFailedEventAttributes ?? ev.activityTaskTimedOutEventAttributes;
        const s = node(n.wf, a?.startedEventId);
        if (!s) return undefined;
        const llm = Math.min(simulatedLatency(ev), n.t - s.t);
        if (llm > 0) add('llm', llm);
        add('activityRun', n.t - s.t - llm);
        step(n, llm > 0 ? 'llm+activityRun' : 'activityRun', n.t - s.t);
        return [s, null]; // counted here, split in two
      }
      case T.EVENT_TYPE_TIMER_FIRED: {
        const s = node(n.wf, ev.timerFiredEventAttributes?.startedEventId);
        return s && [s, 'timer'];
      }
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
        const s = received.get(n);
        return s ? [s, 'signal'] : undefined;
      }
      case T.EVENT_TYPE_EXTERNAL_WORKFLOW_EXECUTION_SIGNALED: {
        const s = node(n.wf, ev.externalWorkflowExecutionSignaledEventAttributes?.initiatedEventId);
        return s && [s, 'signal'];
      }
      case T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED: {
        const s = childInitiated.get(n.wf);
        return s ? [s, 'childStart'] : undefined;
      }
      case T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED: {
        const s = node(n.wf, ev.childWorkflowExecutionStartedEventAttributes?.initiatedEventId);
        return s && [s, 'childStart'];
      }
      case T.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_COMPLETED: {
        const child = ev.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId;
        const s = child ? childCompleted.get(child) : undefined;
        return s ? [s, 'childResult'] : undefined;
      }
      default: {
        // A command's event: recorded when the workflow task that issued it completed.
        const attrs = Object.values(ev).find(
          (v): v is { workflowTaskCompletedEventId?: unknown } => typeof v === 'object' && v !== null && 'workflowTaskCompletedEventId' in v,
        );
        const s = attrs ? node(n.wf, attrs.workflowTaskCompletedEventId) : at(n.wf, n.i - 1);
        return s && [s, attrs ? 'command' : 'other'];
      }
    }
  };

  const last = pipeline.at(-1)!;
  let n: Node | undefined = node(pipelineId, last.eventId);
  const start = ms(pipeline[0]!);
  result.totalMs = Math.round((n?.t ?? start) - start);
  const seen = new Set<Node>();
  while (n && !seen.has(n)) {
    seen.add(n);
    const c = cause(n);
    if (!c) break;
    const [prev, category] = c;
    if (category) {
      add(category, n.t - prev.t);
      step(n, category, n.t - prev.t);
    }
    n = prev;
  }
  result.path.reverse();
  for (const k of Object.keys(result.ms) as Category[]) result.ms[k] = Math.round(result.ms[k]);
  return result;
}

/** The histories of a pipeline's workflow and of every child it started, the pipeline's first. */
export async function pipelineHistories(client: Client, pipelineWorkflowId: string): Promise<Map<string, Event[]>> {
  const out = new Map<string, Event[]>();
  const pipeline = (await client.workflow.getHandle(pipelineWorkflowId).fetchHistory()).events ?? [];
  out.set(pipelineWorkflowId, pipeline);
  for (const ev of pipeline) {
    const id = ev.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    if (id && !out.has(id)) out.set(id, await closedHistory(client, id));
  }
  return out;
}

/**
 * A child's whole history: an idle agent ends just after its pipeline (its parent close policy asks it
 * to), so its last events land after the pipeline's result. Waits for it to close, a few seconds at most.
 */
async function closedHistory(client: Client, workflowId: string): Promise<Event[]> {
  const handle = client.workflow.getHandle(workflowId);
  for (let i = 0; i < 50 && (await handle.describe()).status.name === 'RUNNING'; i++) await new Promise((r) => setTimeout(r, 100));
  return (await handle.fetchHistory()).events ?? [];
}

/** The breakdown as lines of text, largest first, beside the wall time a client saw. */
export function breakdownLines(b: Breakdown, wallMs?: number): string[] {
  const rows = (Object.keys(CATEGORIES) as Category[])
    .filter((k) => b.ms[k] > 0 || b.steps[k] > 0)
    .sort((x, y) => b.ms[y] - b.ms[x])
    .map((k) => `  ${String(b.ms[k]).padStart(6)} ms  ${String(b.steps[k]).padStart(3)}×  ${CATEGORIES[k]}`);
  const head = `critical path of one pipeline: ${b.totalMs} ms on the server${wallMs !== undefined ? ` (${Math.round(wallMs)} ms at the client)` : ''}, ${b.workflowTasks} workflow tasks on it`;
  return [head, ...rows];
}

/** Events as lines: id, ms after the first given, type, and what names them (activity type, signal, child). */
export function eventLines(events: Event[]): string[] {
  const t0 = events[0] ? ms(events[0]) : 0;
  return events.map((ev) => {
    const a =
      ev.activityTaskScheduledEventAttributes?.activityType?.name ??
      ev.workflowExecutionSignaledEventAttributes?.signalName ??
      ev.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName ??
      ev.markerRecordedEventAttributes?.markerName ??
      ev.childWorkflowExecutionCompletedEventAttributes?.workflowExecution?.workflowId ??
      '';
    const summary = ev.userMetadata?.summary?.data ? ` "${Buffer.from(ev.userMetadata.summary.data).toString('utf8').slice(1, 120)}` : '';
    return `#${String(ev.eventId).padEnd(4)} ${(ms(ev) - t0).toFixed(1).padStart(7)} ms  ${String(EventType[ev.eventType as number] ?? ev.eventType).replace(/^EVENT_TYPE_/, '')} ${a}${summary}`;
  });
}

/** How many events of each type a set of histories holds, by workflow (its id after the pipeline's), most first. */
export function eventCounts(pipelineId: string, histories: Map<string, Event[]>): string[] {
  const lines: string[] = [];
  for (const [wf, events] of histories) {
    const counts = new Map<string, number>();
    for (const ev of events) {
      const extra =
        ev.activityTaskScheduledEventAttributes?.activityType?.name ??
        ev.signalExternalWorkflowExecutionInitiatedEventAttributes?.signalName ??
        ev.workflowExecutionSignaledEventAttributes?.signalName;
      const k = `${String(EventType[ev.eventType as number] ?? ev.eventType).replace(/^EVENT_TYPE_/, '')}${extra ? ` ${extra}` : ''}`;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
    const name = wf === pipelineId ? 'pipeline' : wf.slice(pipelineId.length + 1);
    lines.push(
      `${name}: ${events.length} events: ${[...counts]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${n} ${k}`)
        .join(', ')}`,
    );
  }
  return lines;
}
