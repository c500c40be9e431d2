import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pipelineWorkflowId } from '../../common/ids';
import { continueUpdate, recoverUpdate, spawnGammaSignal, stopSignal } from '../../common/messages';
import { HttpError } from '../errors';
import { Accepted, ContinueBody, errorsFor, GammaBody, IdParams, RecoverBody, StopBody } from '../schemas';

// Steering a pipeline: writes go only through Temporal. Updates (continue, recover) are checked by the
// workflow's own validators, whose refusal becomes a 409 with their message; signals (stop, gamma) are
// refused here with 409 once the pipeline has finished, 404 when it never existed.

export const controlRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const handle = (id: string) => app.temporal.workflow.getHandle(pipelineWorkflowId(id));

  /** 404 for an unknown pipeline, 409 for a finished one, instead of a signal into nothing. */
  const running = async (id: string) => {
    const h = handle(id);
    const d = await h.describe();
    if (d.status.name !== 'RUNNING') throw new HttpError(409, `pipeline ${id} has finished (${d.status.name})`);
    return h;
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
        description: 'the `stop` signal: agents stopped, partial report, status STOPPED',
        params: IdParams,
        body: Type.Optional(StopBody),
        response: { 202: Accepted, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const h = await running(request.params.id);
      await h.signal(stopSignal, { reason: request.body?.reason ?? 'stopped through the API' });
      return reply.code(202).send({ pipeline_id: request.params.id, accepted: true });
    },
  );

  app.post(
    '/api/pipeline/:id/gamma',
    {
      schema: {
        description: 'the `spawnGamma` signal (reason MANUAL by default); a second request is recorded and ignored by the workflow',
        params: IdParams,
        body: Type.Optional(GammaBody),
        response: { 202: Accepted, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const h = await running(request.params.id);
      await h.signal(spawnGammaSignal, { reason: request.body?.reason ?? 'MANUAL', ...(request.body?.detail ? { detail: request.body.detail } : {}) });
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
