import { WorkflowNotFoundError } from '@temporalio/common';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { FastifyError, FastifyInstance } from 'fastify';

// One place that turns failures into the contract's `{ statusCode, error, message }` answers.

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const NAMES: Record<number, string> = { 400: 'Bad Request', 401: 'Unauthorized', 404: 'Not Found', 409: 'Conflict', 413: 'Payload Too Large', 429: 'Too Many Requests', 500: 'Internal Server Error', 503: 'Service Unavailable' };

function isUnavailable(err: unknown): boolean {
  const e = err as { code?: number | string; message?: string };
  // gRPC UNAVAILABLE (14) / DEADLINE_EXCEEDED (4), or a refused socket (Redis, Temporal).
  return e?.code === 14 || e?.code === 4 || e?.code === 'ECONNREFUSED' || /ECONNREFUSED|UNAVAILABLE|Connection is closed/.test(e?.message ?? '');
}

export function registerErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    let statusCode = 500;
    let message = err.message;
    if (err instanceof HttpError) statusCode = err.statusCode;
    else if ((err as FastifyError).validation) statusCode = 400;
    else if (err instanceof WorkflowNotFoundError) {
      statusCode = 404;
      message = 'unknown pipeline';
    } else if (err instanceof WorkflowUpdateFailedError) {
      statusCode = 409;
      message = (err.cause as Error | undefined)?.message ?? err.message;
    } else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! < 500) {
      statusCode = (err as FastifyError).statusCode!;
    } else if (isUnavailable(err)) {
      statusCode = 503;
      message = `a dependency is unavailable: ${err.message}`;
    }
    if (statusCode >= 500) request.log.error({ err }, 'request failed');
    void reply.code(statusCode).send({ statusCode, error: NAMES[statusCode] ?? 'Error', message });
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send({ statusCode: 404, error: 'Not Found', message: `no route ${request.method} ${request.url.split('?')[0]}` });
  });
}
