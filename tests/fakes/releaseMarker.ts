import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { workflowInfo } from '@temporalio/workflow';

// Bundled into the versioning test's "version 2" only (bundleWorkflowCode's workflowInterceptorModules):
// the same workflows, plus a `release: 'v2'` field on the pipeline's result, so the test can see
// which code ran a pipeline, not only which worker. Deterministic: it touches nothing but the result.

export const RELEASE_MARKER = 'v2';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  inbound: [
    {
      async execute(input, next) {
        const result = await next(input);
        if (workflowInfo().workflowType !== 'pipelineWorkflow' || typeof result !== 'object' || result === null) return result;
        return { ...(result as object), release: RELEASE_MARKER };
      },
    },
  ],
});
