import { context, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Logger } from 'pino';

// The trace in every log line: pino's mixin adds the ids of the span active where the line is written
// (an API request's span, an activity's), so a line can be found from its trace and the other way
// round. A logger can also carry the ids of its own (an API request's logger, set by api/tracing.ts),
// for the lines written outside the span's context: Fastify's "incoming request" and "request
// completed". Workflow lines are written by the worker after the activation, outside any span: theirs
// come from the workflow interceptor's getLogAttributes (workflows/tracing.ts), and activity lines
// also get them from the SDK's activity interceptor. Without tracing (lib/tracing.ts) there is no
// valid span and lines are as before.

export interface TraceIds {
  trace_id: string;
  span_id: string;
}

/** Where a logger keeps its trace; pino's children inherit it (they are made with Object.create). */
export const LOGGER_TRACE = Symbol('agent-governance.trace');

type TracedLogger = Logger & { [LOGGER_TRACE]?: TraceIds };

/** The ids of the active span, if any. */
export function activeTraceIds(): TraceIds | undefined {
  const span = trace.getSpan(context.active())?.spanContext();
  return span && isSpanContextValid(span) ? { trace_id: span.traceId, span_id: span.spanId } : undefined;
}

/** pino's mixin: the active span's ids, else the logger's own, else nothing. */
export function traceIds(_obj: object, _level: number, logger?: Logger): Partial<TraceIds> {
  return activeTraceIds() ?? (logger as TracedLogger | undefined)?.[LOGGER_TRACE] ?? {};
}

/** Ties a logger to a trace (see LOGGER_TRACE). */
export function tagLogger(logger: Logger, ids: TraceIds): Logger {
  (logger as TracedLogger)[LOGGER_TRACE] = ids;
  return logger;
}
