import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { WorkflowHandle } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId } from '../../common/ids';
import { clipObjective } from '../../common/text';
import { LlmModeKey, PipelinePhaseKey, PipelineStatusKey } from '../../common/searchAttributes';
import type { PipelineInput } from '../../common/types';
import type { pipelineWorkflow } from '../../workflows/pipeline';
import { operation } from '../docs';
import { HttpError } from '../errors';
import { RunningCap } from '../runningCap';
import { errorsFor, SpawnBody, SpawnReply } from '../schemas';

// POST /api/spawn: starts a pipeline. Idempotent for a given pipeline_id, with Temporal as the only
// record: a running pipeline is reused (conflict policy USE_EXISTING) and a finished one is never
// started again (reuse policy REJECT_DUPLICATE), so every repeat answers with the same run.
// At MAX_RUNNING_PIPELINES running on the task queue, a new pipeline is refused with 429 (a repeat is
// still answered; api/runningCap.ts); an id held by a workflow of another type is refused with 409.

const newPipelineId = (): string => `${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;

export const spawnRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const cap = new RunningCap(app.temporal, app.cfg.TEMPORAL_TASK_QUEUE, app.cfg.MAX_RUNNING_PIPELINES);

  app.post(
    '/api/spawn',
    {
      schema: {
        ...operation('pipelines', 'spawnPipeline', 'Start a pipeline'),
        description: 'start a pipeline (idempotent for a given pipeline_id)',
        body: SpawnBody,
        response: { 201: SpawnReply, ...errorsFor(400, 401, 409, 429, 503) },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const cfg = app.cfg;
      const pipelineId = body.pipeline_id ?? newPipelineId();
      const workflowId = pipelineWorkflowId(pipelineId);
      const input: PipelineInput = {
        pipelineId,
        objective: body.objective,
        // Like the mode, only when asked: otherwise the worker's AUTO_ORCHESTRATE decides, in resolveSettings.
        ...(body.auto_continue !== undefined ? { autoContinue: body.auto_continue } : {}),
        ...(body.mode ? { mode: body.mode } : {}),
        ...(body.model ? { model: body.model } : {}),
        ...(body.models && Object.keys(body.models).length ? { models: body.models } : {}),
        ...(body.timeout ? { timeoutSeconds: body.timeout } : {}),
        ...(body.scenario ? { scenario: body.scenario } : {}),
        ...(body.latency_ms !== undefined ? { latencyMs: body.latency_ms } : {}),
        ...(body.approval_window !== undefined ? { approvalWindowSeconds: body.approval_window } : {}),
        ...(body.cost_budget_usd !== undefined ? { budgets: { costUsd: body.cost_budget_usd } } : {}),
      };
      const { runId, d } = await cap.admit(body.pipeline_id === undefined ? undefined : workflowId, async () => {
        let runId: string;
        let existing: Awaited<ReturnType<WorkflowHandle['describe']>> | undefined;
        try {
          const handle = await app.temporal.workflow.start<typeof pipelineWorkflow>(PIPELINE_WORKFLOW_TYPE, {
            taskQueue: cfg.TEMPORAL_TASK_QUEUE,
            workflowId,
            args: [input],
            workflowIdConflictPolicy: 'USE_EXISTING',
            workflowIdReusePolicy: 'REJECT_DUPLICATE',
            staticSummary: `Pipeline · ${clipObjective(body.objective)}`,
            // The mode only when the request names it: by default the worker decides (it holds the key).
            staticDetails: `Objective: ${body.objective}${body.mode ? `\n\nMode: ${body.mode}` : ''}${body.scenario ? `${body.mode ? ' · ' : '\n\n'}scenario ${body.scenario}` : ''}`,
            typedSearchAttributes: [
              { key: PipelineStatusKey, value: 'SPAWNING' },
              { key: PipelinePhaseKey, value: 'SPAWN' },
              ...(body.mode ? [{ key: LlmModeKey, value: body.mode }] : []),
            ],
          });
          runId = handle.firstExecutionRunId;
        } catch (err) {
          if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
          // Finished earlier: the same pipeline, not a second one.
          existing = await app.temporal.workflow.getHandle(workflowId).describe();
          runId = existing.raw.workflowExecutionInfo?.firstRunId || existing.runId;
        }
        // Its current status (SPAWNING when new) from the search attribute: no worker needed to answer.
        const d = existing ?? (await app.temporal.workflow.getHandle(workflowId).describe());
        if (d.type === PIPELINE_WORKFLOW_TYPE) cap.started(workflowId, d.startTime);
        return { runId, d };
      });
      // USE_EXISTING and REJECT_DUPLICATE answer with whatever holds the id, whatever its type.
      if (d.type !== PIPELINE_WORKFLOW_TYPE) throw new HttpError(409, `workflow id ${workflowId} is taken by a ${d.type} workflow, not a pipeline`);
      const status = d.typedSearchAttributes.get(PipelineStatusKey) ?? 'SPAWNING';
      request.log.info({ pipelineId, workflowId, runId }, 'spawn');
      return reply.code(201).send({ pipeline_id: pipelineId, workflow_id: workflowId, run_id: runId, status });
    },
  );
};
