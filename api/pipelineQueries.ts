import type { Client } from '@temporalio/client';
import type { QueryDefinition } from '@temporalio/workflow';
import { pipelineWorkflowId } from '../common/ids';

// The workflow queries of one pipeline, one at a time from this API process. Two queries at once on a
// pipeline that has just closed can leave one buffered in the worker when the run leaves its cache;
// that one then waits out the RPC timeout and fails ("Failed to query Workflow" after 30 s; SDK 1.23).
// The dashboard reads three routes at once on every event, so its read just after a pipeline finished
// hit this for 11 of 20 pipelines under load; one at a time, for 0. Queries of different pipelines
// still run side by side.

export class PipelineQueries {
  /** The last query asked of each pipeline, settled or not: the next one waits for it. */
  private readonly tails = new Map<string, Promise<unknown>>();

  constructor(private readonly temporal: Client) {}

  query<R>(pipelineId: string, def: QueryDefinition<R, []>): Promise<R> {
    const previous = this.tails.get(pipelineId) ?? Promise.resolve();
    const run = previous.then(
      () => this.ask(pipelineId, def),
      () => this.ask(pipelineId, def),
    );
    this.tails.set(pipelineId, run);
    // The map keeps only pipelines with a query in flight.
    const forget = () => {
      if (this.tails.get(pipelineId) === run) this.tails.delete(pipelineId);
    };
    run.then(forget, forget);
    return run;
  }

  private ask<R>(pipelineId: string, def: QueryDefinition<R, []>): Promise<R> {
    return this.temporal.workflow.getHandle(pipelineWorkflowId(pipelineId)).query(def);
  }
}
