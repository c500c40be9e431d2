import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pipelineWorkflowId } from '../../common/ids';
import { CheckpointsReply, errorsFor, IdParams, LogsQuery, LogsReply } from '../schemas';

// Audit entries and checkpoints, read from the SQLite ledger. A pipeline the ledger has no rows for is
// looked up in Temporal: known there (it has not written yet) is an empty answer, unknown is a 404.
// A ledger that cannot be read is a 503 (see errors.ts).

export const ledgerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const mustExist = async (pipelineId: string) => {
    await app.temporal.workflow.getHandle(pipelineWorkflowId(pipelineId)).describe();
  };

  app.get(
    '/api/pipeline/logs',
    {
      schema: {
        description: 'audit entries from the ledger, of one pipeline or of all',
        querystring: LogsQuery,
        response: { 200: LogsReply, ...errorsFor(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const { pipeline_id: pipelineId, limit = 100 } = request.query;
      const entries = app.ledger.audit(pipelineId, limit);
      if (pipelineId && entries.length === 0) await mustExist(pipelineId);
      return { pipeline_id: pipelineId ?? null, entries };
    },
  );

  app.get(
    '/api/pipeline/:id/checkpoints',
    { schema: { description: 'checkpoints from the ledger', params: IdParams, response: { 200: CheckpointsReply, ...errorsFor(400, 401, 404, 503) } } },
    async (request) => {
      const checkpoints = app.ledger.checkpoints(request.params.id);
      if (checkpoints.length === 0) await mustExist(request.params.id);
      return { pipeline_id: request.params.id, checkpoints };
    },
  );
};
