import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pipelineIdFromWorkflowId, pipelineWorkflowId } from '../../common/ids';
import { continueUpdate, orchestrationQuery, recoverUpdate, reportQuery, spawnGammaSignal, statusQuery, stopSignal } from '../../common/messages';
import { Accepted, ContinueBody, ErrorReply, GammaBody, IdParams, ListQuery, PipelineQuery, RecoverBody, StatusReply, StopBody } from '../schemas';

// Pipelines over HTTP: reads go to Temporal (queries, visibility), writes only through Temporal
// (signals, updates). The API keeps no state of its own.

const errors = { 400: ErrorReply, 404: ErrorReply, 409: ErrorReply, 503: ErrorReply };

export const pipelineRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const handle = (id: string) => app.temporal.workflow.getHandle(pipelineWorkflowId(id));

  app.get('/api/pipelines', { schema: { querystring: ListQuery, response: { 200: Type.Object({ pipelines: Type.Array(Type.Any()) }), ...errors } } }, async (request) => {
    const clauses = [`WorkflowType = 'pipelineWorkflow'`];
    if (request.query.status) clauses.push(`PipelineStatus = '${request.query.status}'`);
    const limit = request.query.limit ?? 50;
    const pipelines = [];
    for await (const wf of app.temporal.workflow.list({ query: clauses.join(' AND '), pageSize: limit })) {
      const sa = wf.typedSearchAttributes;
      pipelines.push({
        pipeline_id: pipelineIdFromWorkflowId(wf.workflowId),
        workflow_id: wf.workflowId,
        run_id: wf.runId,
        execution_status: wf.status.name,
        status: sa.getAll().find((p) => p.key.name === 'PipelineStatus')?.value ?? null,
        phase: sa.getAll().find((p) => p.key.name === 'PipelinePhase')?.value ?? null,
        started_at: wf.startTime.toISOString(),
        closed_at: wf.closeTime?.toISOString() ?? null,
      });
      if (pipelines.length >= limit) break;
    }
    return { pipelines };
  });

  app.get('/api/pipeline/:id', { schema: { params: IdParams, response: { 200: StatusReply, ...errors } } }, async (request) =>
    handle(request.params.id).query(statusQuery),
  );

  app.get('/api/pipeline/:id/orchestration', { schema: { params: IdParams, response: { 200: Type.Any(), ...errors } } }, async (request) =>
    handle(request.params.id).query(orchestrationQuery),
  );

  app.get('/api/checkpoint/report', { schema: { querystring: PipelineQuery, response: { 200: Type.Any(), ...errors } } }, async (request) => {
    const h = handle(request.query.pipeline_id);
    const [report, status] = await Promise.all([h.query(reportQuery), h.query(statusQuery)]);
    const autoContinue = (report?.summary ?? '').includes('automatically');
    return {
      pipeline_id: request.query.pipeline_id,
      report,
      continuation: { auto_continue: autoContinue, status: status.status, can_continue: status.status === 'REPORT' },
    };
  });

  app.post('/api/pipeline/continue', { schema: { body: ContinueBody, response: { 202: Accepted, ...errors } } }, async (request, reply) => {
    const { pipeline_id, mode, model, timeout } = request.body;
    const result = await handle(pipeline_id).executeUpdate(continueUpdate, {
      args: [{ ...(mode ? { mode } : {}), ...(model ? { model } : {}), ...(timeout ? { timeoutSeconds: timeout } : {}) }],
    });
    return reply.code(202).send({ pipeline_id, accepted: true, ...result });
  });

  app.post('/api/pipeline/:id/stop', { schema: { params: IdParams, body: Type.Optional(StopBody), response: { 202: Accepted, ...errors } } }, async (request, reply) => {
    const h = handle(request.params.id);
    await h.describe(); // 404 for an unknown pipeline instead of a signal into nothing
    await h.signal(stopSignal, { reason: request.body?.reason ?? 'stopped through the API' });
    return reply.code(202).send({ pipeline_id: request.params.id, accepted: true });
  });

  app.post('/api/pipeline/:id/gamma', { schema: { params: IdParams, body: Type.Optional(GammaBody), response: { 202: Accepted, ...errors } } }, async (request, reply) => {
    await handle(request.params.id).signal(spawnGammaSignal, { reason: request.body?.reason ?? 'MANUAL', ...(request.body?.detail ? { detail: request.body.detail } : {}) });
    return reply.code(202).send({ pipeline_id: request.params.id, accepted: true });
  });

  app.post('/api/pipeline/:id/recover', { schema: { params: IdParams, body: RecoverBody, response: { 202: Accepted, ...errors } } }, async (request, reply) => {
    const result = await handle(request.params.id).executeUpdate(recoverUpdate, { args: [{ action: request.body.action }] });
    return reply.code(202).send({ pipeline_id: request.params.id, accepted: true, ...result });
  });
};
