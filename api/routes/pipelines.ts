import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { PIPELINE_WORKFLOW_TYPE, pipelineIdFromWorkflowId } from '../../common/ids';
import { orchestrationQuery, reportQuery, statusQuery } from '../../common/messages';
import { PipelinePhaseKey, PipelineStatusKey } from '../../common/searchAttributes';
import { renderReportMarkdown } from '../../agents/report';
import { operation } from '../docs';
import { HttpError } from '../errors';
import { PipelineQueries } from '../pipelineQueries';
import { pipelineAutoContinue } from '../pipelineSettings';
import { errorsFor, IdParams, ListQuery, ListReply, MarkdownReply, OrchestrationReply, PipelineQuery, ReportReply, StatusReply } from '../schemas';

// Reading pipelines: Temporal visibility for the list, the workflow's queries for one pipeline (one at a
// time per pipeline: api/pipelineQueries.ts). The API keeps no state of its own.

export const pipelineRoutes: FastifyPluginAsyncTypebox = async (app) => {
  const queries = new PipelineQueries(app.temporal);

  app.get(
    '/api/pipelines',
    {
      schema: {
        ...operation('pipelines', 'listPipelines', 'List pipelines'),
        description: 'pipelines from Temporal visibility, newest first',
        querystring: ListQuery,
        response: { 200: ListReply, ...errorsFor(400, 401, 503) },
      },
    },
    async (request) => {
      const clauses = [`WorkflowType = '${PIPELINE_WORKFLOW_TYPE}'`];
      // `status` is one of the contract's enum values (validated), so it is safe inside the query.
      if (request.query.status) clauses.push(`PipelineStatus = '${request.query.status}'`);
      const limit = request.query.limit ?? 50;
      const pipelines = [];
      for await (const wf of app.temporal.workflow.list({ query: clauses.join(' AND '), pageSize: Math.min(limit, 100) })) {
        pipelines.push({
          pipeline_id: pipelineIdFromWorkflowId(wf.workflowId),
          workflow_id: wf.workflowId,
          run_id: wf.runId,
          execution_status: wf.status.name,
          status: wf.typedSearchAttributes.get(PipelineStatusKey) ?? null,
          phase: wf.typedSearchAttributes.get(PipelinePhaseKey) ?? null,
          started_at: wf.startTime.toISOString(),
          closed_at: wf.closeTime?.toISOString() ?? null,
        });
        if (pipelines.length >= limit) break;
      }
      return { pipelines };
    },
  );

  app.get(
    '/api/pipeline/:id',
    {
      schema: {
        ...operation('pipelines', 'getPipeline', "Get a pipeline's status"),
        description: "the workflow's `status` query",
        params: IdParams,
        response: { 200: StatusReply, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request) => queries.query(request.params.id, statusQuery),
  );

  app.get(
    '/api/pipeline/:id/report.md',
    {
      schema: {
        ...operation('pipelines', 'getPipelineReportMarkdown', 'Get the report as Markdown'),
        description: 'the report as Markdown: once the pipeline has ended, the deliverable (the adopted design in full, votes, dissents, open risks, GAMMA)',
        params: IdParams,
        produces: ['text/markdown'],
        response: { 200: MarkdownReply, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request, reply) => {
      const report = await queries.query(request.params.id, reportQuery);
      if (!report) throw new HttpError(409, `pipeline ${request.params.id} has no report yet: it is written at REPORT`);
      return reply.type('text/markdown; charset=utf-8').send(renderReportMarkdown(report));
    },
  );

  app.get(
    '/api/pipeline/:id/orchestration',
    {
      schema: {
        ...operation('pipelines', 'getPipelineOrchestration', "Get a pipeline's orchestration"),
        description: "the workflow's `orchestration` query",
        params: IdParams,
        response: { 200: OrchestrationReply, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request) => queries.query(request.params.id, orchestrationQuery),
  );

  app.get(
    '/api/checkpoint/report',
    {
      schema: {
        ...operation('pipelines', 'getReportCheckpoint', 'Get the report and whether the pipeline waits for continue'),
        description: 'the `report` query, and whether the pipeline waits at REPORT for continue',
        querystring: PipelineQuery,
        response: { 200: ReportReply, ...errorsFor(400, 401, 404, 409, 503) },
      },
    },
    async (request) => {
      const id = request.query.pipeline_id;
      const [report, status] = await Promise.all([queries.query(id, reportQuery), queries.query(id, statusQuery)]);
      // The pipeline's own setting, not a guess from the report's wording.
      const autoContinue = await pipelineAutoContinue(app.ledger, app.redis, id).catch((err: Error) => {
        request.log.warn({ err: err.message, pipelineId: id }, 'cannot read the pipeline settings');
        return null;
      });
      return {
        pipeline_id: id,
        report,
        continuation: { auto_continue: autoContinue, status: status.status, can_continue: status.status === 'REPORT' && autoContinue !== true },
      };
    },
  );
};
