import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { WorkflowNotFoundError } from '@temporalio/common';
import { PIPELINE_WORKFLOW_TYPE, pipelineWorkflowId } from '../../common/ids';
import { continueUpdate, recoverUpdate, requestGammaUpdate, requestStopUpdate } from '../../common/messages';
import { HttpError } from '../errors';
import { Accepted, ContinueBody, errorsFor, GammaBody, IdParams, RecoverBody, StopBody } from '../schemas';

// Steering a pipeline: writes go only through Temporal, as updates checked by the workflow's own
// validators, whose refusal becomes a 409 with their message. stop and gamma use the requestStop and
// requestGamma updates rather than the stop and spawnGamma signals: a refused update is not written to
// the history, so repeats cost the pipeline nothing (a signal would add an event each time).
// A pipeline that has finished is a 409, one that never existed a 404, before any update is sent.

export const controlRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const handle = (id: string) => app.temporal.workflow.getHandle(pipelineWorkflowId(id));

  /** 404 for an unknown pipeline, 409 for a finished one, instead of a signal into nothing. */
  const running = async (id: string) => {
    const h = handle(id);
    const d = await h.describe();
    // A workflow of another type under a pipeline's id (started by hand) is no pipeline of ours.
    if (d.type !== PIPELINE_WORKFLOW_TYPE) throw new HttpError(404, `no pipeline ${id}: workflow ${h.workflowId} is a ${d.type}`);
    if (d.status.name !== 'RUNNING') throw new HttpError(409, `pipeline ${id} has finished (${d.status.name})`);
    return h;
  };

  /** An update to a running pipeline; one that finishes meanwhile (the server then says "not found") is a 409 too. */
  const updateRunning = async <T>(id: string, send: (h: ReturnType<typeof handle>) => Promise<T>): Promise<T> => {
    const h = await running(id);
    try {
      return await send(h);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) await running(id);
      throw err;
    }
  };

  app.post(
    '/api/pipeline/continue',
    {
      schema: {
        description: 'the `continue` update: orchestrate a pipeline waiting at REPORT',
        body: ContinueBody,
        response: { 202: Accepted, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const { pipeline_id, mode, model, timeout } = request.body;
      const result = await handle(pipeline_id).executeUpdate(continueUpdate, {
        args: [{ ...(mode ? { mode } : {}), ...(model ? { model } : {}), ...(timeout ? { timeoutSeconds: timeout } : {}) }],
      });
      return reply.code(202).send({ ...result, pipeline_id, accepted: true });
    },
  );

  app.post(
    '/api/pipeline/:id/stop',
    {
      schema: {
        description:
          'stop through the `requestStop` update: agents stopped, partial report, status STOPPED; 409 when a stop is already under way or the pipeline has finished',
        params: IdParams,
        body: Type.Optional(StopBody),
        response: { 202: Accepted, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      await updateRunning(request.params.id, (h) =>
        h.executeUpdate(requestStopUpdate, { args: [{ reason: request.body?.reason ?? 'stopped through the API' }] }),
      );
      return reply.code(202).send({ pipeline_id: request.params.id, accepted: true });
    },
  );

  app.post(
    '/api/pipeline/:id/gamma',
    {
      schema: {
        description:
          'spawnGamma through the `requestGamma` update (reason MANUAL by default); 409 when GAMMA is already requested or present in this orchestration, or the pipeline has finished',
        params: IdParams,
        body: Type.Optional(GammaBody),
        response: { 202: Accepted, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      await updateRunning(request.params.id, (h) =>
        h.executeUpdate(requestGammaUpdate, {
          args: [{ reason: request.body?.reason ?? 'MANUAL', ...(request.body?.detail ? { detail: request.body.detail } : {}) }],
        }),
      );
      return reply.code(202).send({ pipeline_id: request.params.id, accepted: true });
    },
  );

  app.post(
    '/api/pipeline/:id/recover',
    {
      schema: {
        description: 'the `recover` update for a pipeline waiting in ORCHESTRATION_FAILED',
        params: IdParams,
        body: RecoverBody,
        response: { 202: Accepted, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const result = await handle(request.params.id).executeUpdate(recoverUpdate, { args: [{ action: request.body.action }] });
      return reply.code(202).send({ ...result, pipeline_id: request.params.id, accepted: true });
    },
  );
};
