import type { Client } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/workflow';
import { pipelineWorkflowId } from '../common/ids';
import { HttpError } from './errors';

// The workflow queries of one pipeline, one at a time from this API process. Two queries at once on a
// pipeline that has just closed can leave one buffered in the worker when the run leaves its cache;
// that one then waits out the RPC timeout and fails ("Failed to query Workflow" after 30 s; SDK 1.23).
// The dashboard reads three routes at once on every event, so its read just after a pipeline finished
// hit this for 11 of 20 pipelines under load; one at a time, for 0. Queries of different pipelines
// still run side by side.

/**
 * Queries of one pipeline waiting at most, its own included: beyond it a read is refused (503) rather
 * than queued behind queries that may each wait out the RPC timeout (a worker down, every dashboard
 * tab reading on every event and every few seconds).
 */
export const MAX_QUEUED_QUERIES = 8;

export class PipelineQueries {
  /** The last query asked of each pipeline, settled or not: the next one waits for it. */
  private readonly tails = new Map<string, Promise<unknown>>();
  /** Queries asked of each pipeline and not settled yet. */
  private readonly queued = new Map<string, number>();

  constructor(private readonly temporal: Client) {}

  query<R>(pipelineId: string, def: QueryDefinition<R, []>): Promise<R> {
    const queued = this.queued.get(pipelineId) ?? 0;
    if (queued >= MAX_QUEUED_QUERIES) {
      return Promise.reject(new HttpError(503, `${queued} reads of pipeline ${pipelineId} are waiting for its workflow to answer: try again shortly`));
    }
    this.queued.set(pipelineId, queued + 1);
    const previous = this.tails.get(pipelineId) ?? Promise.resolve();
    const run = previous.then(
      () => this.ask(pipelineId, def),
      () => this.ask(pipelineId, def),
    );
    this.tails.set(pipelineId, run);
    // The map keeps only pipelines with a query in flight.
    const forget = () => {
      if (this.tails.get(pipelineId) === run) this.tails.delete(pipelineId);
      const left = (this.queued.get(pipelineId) ?? 1) - 1;
      if (left > 0) this.queued.set(pipelineId, left);
      else this.queued.delete(pipelineId);
    };
    run.then(forget, forget);
    return run;
  }

  private ask<R>(pipelineId: string, def: QueryDefinition<R, []>): Promise<R> {
    return this.temporal.workflow.getHandle(pipelineWorkflowId(pipelineId)).query(def);
  }
}
