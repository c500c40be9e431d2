import { Type, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { ErrorReply, IdParams, LogsQuery } from '../schemas';

// Audit entries and checkpoints, read from the SQLite ledger.

export const ledgerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/api/pipeline/logs', { schema: { querystring: LogsQuery, response: { 200: Type.Any(), 400: ErrorReply } } }, async (request) => ({
    pipeline_id: request.query.pipeline_id ?? null,
    entries: app.ledger.audit(request.query.pipeline_id, request.query.limit ?? 100),
  }));

  app.get('/api/pipeline/:id/checkpoints', { schema: { params: IdParams, response: { 200: Type.Any(), 400: ErrorReply } } }, async (request) => ({
    pipeline_id: request.params.id,
    checkpoints: app.ledger.checkpoints(request.params.id),
  }));
};
