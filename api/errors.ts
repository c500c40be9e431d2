import { WorkflowNotFoundError } from '@temporalio/common';
import { QueryNotRegisteredError, QueryRejectedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { FastifyError, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { LedgerUnavailable } from '../lib/ledger';

// One place that turns failures into the contract's `{ statusCode, error, message }` answers:
// 400 bad input, 401 bad or missing token, 404 unknown pipeline, 409 wrong state, 503 a dependency
// is down. Anything else that is not the client's fault stays a 500 and is logged.

export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const STATUS_NAMES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  406: 'Not Acceptable',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  421: 'Misdirected Request',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export const errorBody = (statusCode: number, message: string) => ({ statusCode, error: STATUS_NAMES[statusCode] ?? 'Error', message });

/** The error and its causes, outermost first (the Temporal client wraps gRPC errors in ServiceError). */
type ErrLike = { code?: number | string; message?: string; cause?: unknown };
function chain(err: unknown): ErrLike[] {
  const out: ErrLike[] = [];
  for (let e = err as ErrLike | undefined, i = 0; e && i < 5; e = e.cause as ErrLike | undefined, i++) out.push(e);
  return out;
}

function isUnavailable(err: unknown): boolean {
  // gRPC UNAVAILABLE (14) / DEADLINE_EXCEEDED (4), or a refused/closed socket (Redis, Temporal).
  return chain(err).some(
    (e) =>
      e.code === 14 ||
      e.code === 4 ||
      e.code === 'ECONNREFUSED' ||
      /ECONNREFUSED|UNAVAILABLE|DEADLINE_EXCEEDED|Connection is closed|Stream isn't writeable/.test(e.message ?? ''),
  );
}

/** The ledger is not there yet, closed, locked or unreadable (better-sqlite3's failures). */
function isLedgerDown(err: unknown): boolean {
  const e = err as { name?: string; message?: string };
  return err instanceof LedgerUnavailable || e?.name === 'SqliteError' || /database connection is not open|unable to open database/.test(e?.message ?? '');
}

async function errorsPlugin(app: FastifyInstance): Promise<void> {
  app.setErrorHandler((err: FastifyError | Error, request, reply) => {
    let statusCode = 500;
    let message = err.message;
    if (err instanceof HttpError) statusCode = err.statusCode;
    else if ((err as FastifyError).validation) statusCode = 400;
    else if (err instanceof WorkflowNotFoundError) {
      // A signal or update to a closed execution comes back as "not found" from the server too.
      if (/already completed/i.test(err.message)) {
        statusCode = 409;
        message = 'the pipeline has finished';
      } else {
        statusCode = 404;
        message = 'unknown pipeline';
      }
    } else if (err instanceof WorkflowUpdateFailedError) {
      statusCode = 409;
      message = (err.cause as Error | undefined)?.message ?? err.message;
    } else if (err instanceof QueryNotRegisteredError || err instanceof QueryRejectedError) {
      // E.g. a pipeline that failed on invalid input before it registered its queries.
      statusCode = 409;
      message = `the pipeline cannot answer this query: ${err.message}`;
    } else if (typeof (err as FastifyError).statusCode === 'number' && (err as FastifyError).statusCode! >= 400 && (err as FastifyError).statusCode! < 500) {
      statusCode = (err as FastifyError).statusCode!;
    } else if (isLedgerDown(err)) {
      statusCode = 503;
      message = `the ledger is unavailable: ${err.message}`;
    } else if (isUnavailable(err)) {
      statusCode = 503;
      message = `a dependency is unavailable: ${err.message}`;
    }
    if (statusCode >= 500) request.log.error({ err }, 'request failed');
    if (statusCode === 500) message = 'internal error'; // details are in the log, not in the answer
    void reply.code(statusCode).send(errorBody(statusCode, message));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.code(404).send(errorBody(404, `no route ${request.method} ${request.url.split('?')[0]}`));
  });
}

/** Routes take the error handler in force when they are registered: plugins with routes depend on 'errors'. */
export default fp(errorsPlugin, { name: 'errors' });
