import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pipelineWorkflowId } from '../../common/ids';
import { LlmModeKey, PipelinePhaseKey, PipelineStatusKey } from '../../common/searchAttributes';
import type { PipelineInput } from '../../common/types';
import type { pipelineWorkflow } from '../../workflows/pipeline';
import { ErrorReply, SpawnBody, SpawnReply } from '../schemas';

// POST /api/spawn: starts a pipeline. Idempotent for a given pipeline_id: a second call while the
// pipeline runs returns the same run.

const newPipelineId = (): string => `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;

export const spawnRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.post('/api/spawn', { schema: { body: SpawnBody, response: { 201: SpawnReply, 400: ErrorReply, 503: ErrorReply } } }, async (request, reply) => {
    const body = request.body;
    const cfg = app.cfg;
    const pipelineId = body.pipeline_id ?? newPipelineId();
    const input: PipelineInput = {
      pipelineId,
      objective: body.objective,
      autoContinue: body.auto_continue ?? cfg.AUTO_ORCHESTRATE,
      ...(body.mode ? { mode: body.mode } : {}),
      ...(body.model ? { model: body.model } : {}),
      ...(body.timeout ? { timeoutSeconds: body.timeout } : {}),
      ...(body.scenario ? { scenario: body.scenario } : {}),
      ...(body.latency_ms !== undefined ? { latencyMs: body.latency_ms } : {}),
    };
    const objective = body.objective.length > 100 ? `${body.objective.slice(0, 97)}...` : body.objective;
    const handle = await app.temporal.workflow.start<typeof pipelineWorkflow>('pipelineWorkflow', {
      taskQueue: cfg.TEMPORAL_TASK_QUEUE,
      workflowId: pipelineWorkflowId(pipelineId),
      args: [input],
      workflowIdConflictPolicy: 'USE_EXISTING',
      staticSummary: `Pipeline · ${objective}`,
      staticDetails: `Objective: ${body.objective}\n\nMode: ${body.mode ?? cfg.llmMode}${body.scenario ? ` · scenario ${body.scenario}` : ''}`,
      typedSearchAttributes: [
        { key: PipelineStatusKey, value: 'SPAWNING' },
        { key: PipelinePhaseKey, value: 'SPAWN' },
        { key: LlmModeKey, value: body.mode ?? cfg.llmMode },
      ],
    });
    return reply.code(201).send({ pipeline_id: pipelineId, workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId, status: 'SPAWNING' });
  });
};
