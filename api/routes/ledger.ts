import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { pipelineWorkflowId } from '../../common/ids';
import type { Usage } from '../../agents/provider';
import type { TranscriptRecord } from '../../lib/transcripts';
import { operation } from '../docs';
import { CheckpointsReply, errorsFor, IdParams, LogsQuery, LogsReply, TranscriptQuery, TranscriptReply } from '../schemas';

// Audit entries and checkpoints, read from the SQLite ledger. A pipeline the ledger has no rows for is
// looked up in Temporal: known there (it has not written yet) is an empty answer, unknown is a 404.
// A ledger that cannot be read is a 503 (see errors.ts).

/** A page carries at most this much stored text past its first call: one answer may be megabytes. */
const TRANSCRIPT_PAGE_BYTES = 4 * 1024 * 1024;

const usageOut = (u: Usage | null | undefined) =>
  u ? { prompt_tokens: u.promptTokens, completion_tokens: u.completionTokens, total_tokens: u.totalTokens, cost_usd: u.costUsd ?? null } : null;

function callOut(t: TranscriptRecord) {
  return {
    key: t.key,
    agent_id: t.agentId,
    role: t.role,
    task: t.task,
    round: t.round,
    try: t.try,
    attempt: t.attempt,
    repair: t.repair,
    model: t.model,
    usage: usageOut(t.usage),
    outcome: t.outcome,
    error: t.error,
    started_at: t.startedAt,
    ended_at: t.endedAt,
    exchanges: t.exchanges.map((e) => {
      const { messages, ...params } = e.request as { messages?: { role: string; content: string }[] };
      return {
        messages: messages ?? [],
        params,
        answer: e.answer,
        model: e.model ?? null,
        usage: usageOut(e.usage),
        finish_reason: e.finishReason ?? null,
        error: e.error ?? null,
        rejected: e.rejected ?? null,
        started_at: e.startedAt,
        ms: e.ms,
      };
    }),
  };
}

export const ledgerRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const mustExist = async (pipelineId: string) => {
    await app.temporal.workflow.getHandle(pipelineWorkflowId(pipelineId)).describe();
  };

  app.get(
    '/api/pipeline/logs',
    {
      schema: {
        ...operation('ledger', 'listAuditEntries', 'List audit entries'),
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
    {
      schema: {
        ...operation('ledger', 'listCheckpoints', "List a pipeline's checkpoints"),
        description: 'checkpoints from the ledger',
        params: IdParams,
        response: { 200: CheckpointsReply, ...errorsFor(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const checkpoints = app.ledger.checkpoints(request.params.id);
      if (checkpoints.length === 0) await mustExist(request.params.id);
      return { pipeline_id: request.params.id, checkpoints };
    },
  );

  app.get(
    '/api/pipeline/:id/transcript',
    {
      schema: {
        ...operation('ledger', 'getTranscript', "Get a pipeline's LLM transcript"),
        description: "the pipeline's LLM calls from the ledger, in order: messages as sent and raw answers, usage and cost (paged)",
        params: IdParams,
        querystring: TranscriptQuery,
        response: { 200: TranscriptReply, ...errorsFor(400, 401, 404, 503) },
      },
    },
    async (request) => {
      const { offset = 0, limit = 20 } = request.query;
      const page = app.ledger.transcript(request.params.id, offset, limit, TRANSCRIPT_PAGE_BYTES);
      if (page.total === 0) await mustExist(request.params.id);
      return { pipeline_id: request.params.id, total: page.total, offset, next_offset: page.nextOffset, calls: page.calls.map(callOut) };
    },
  );
};
