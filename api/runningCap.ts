import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { PIPELINE_WORKFLOW_TYPE } from '../common/ids';
import { HttpError } from './errors';

// MAX_RUNNING_PIPELINES: how many pipelines of this task queue may run at once. Temporal's visibility
// is the count, but it shows a start only a moment later, so a burst of spawns would all read the
// same count and pass together. This API therefore admits its spawns one at a time and adds the ones
// it started that visibility does not show yet. Exact for one API process; several API processes
// each see the others' starts only through visibility (a bound, not a lock, across processes).

/** How long a start is remembered: far longer than visibility's lag (under a second on SQL, seconds on Elasticsearch). */
const REMEMBER_MS = 60_000;

export class RunningCap {
  private readonly recent = new Map<string, number>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly temporal: Client,
    private readonly taskQueue: string,
    readonly cap: number,
  ) {}

  /**
   * Runs `start` if a pipeline may start now: 429 at the cap, unless `workflowId` names a pipeline that
   * exists (a repeat starts nothing). One admission at a time, so the count a spawn reads includes the
   * spawn before it.
   */
  admit<T>(workflowId: string | undefined, start: () => Promise<T>): Promise<T> {
    const turn = this.queue.then(async () => {
      await this.check(workflowId);
      return start();
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** A pipeline this API answered a spawn with, and when its run started (a repeat's is older, and forgotten). */
  started(workflowId: string, startTime: Date): void {
    if (Date.now() - startTime.getTime() < REMEMBER_MS) this.recent.set(workflowId, startTime.getTime());
  }

  private async check(workflowId: string | undefined): Promise<void> {
    const now = Date.now();
    for (const [id, at] of this.recent) if (now - at > REMEMBER_MS) this.recent.delete(id);
    const ofQueue = `WorkflowType = '${PIPELINE_WORKFLOW_TYPE}' AND TaskQueue = '${this.taskQueue.replace(/'/g, '')}'`;
    let { count } = await this.temporal.workflow.count(`${ofQueue} AND ExecutionStatus = 'Running'`);
    if (this.recent.size) {
      // Those visibility already shows (running or closed) are in the count or finished.
      const since = new Date(Math.min(...this.recent.values()) - 1000).toISOString();
      const unseen = new Set(this.recent.keys());
      for await (const w of this.temporal.workflow.list({ query: `${ofQueue} AND StartTime >= '${since}'` })) unseen.delete(w.workflowId);
      count += unseen.size;
    }
    if (count < this.cap) return;
    if (workflowId !== undefined && (this.recent.has(workflowId) || (await this.exists(workflowId)))) return;
    throw new HttpError(
      429,
      `${count} pipelines are running, the most this server starts at once (MAX_RUNNING_PIPELINES=${this.cap}); retry when some have finished`,
    );
  }

  private exists(workflowId: string): Promise<boolean> {
    return this.temporal.workflow
      .getHandle(workflowId)
      .describe()
      .then(
        () => true,
        (err: unknown) => {
          if (err instanceof WorkflowNotFoundError) return false;
          throw err;
        },
      );
  }
}
