import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Context, type Span } from '@opentelemetry/api';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import type { IncomingMessage } from 'node:http';
import type { Logger } from 'pino';
import { tagLogger } from '../lib/traceLog';
import { tracing } from '../lib/tracing';

// A SERVER span per request (`POST /api/spawn`), child of the caller's W3C traceparent when it sent
// one, and the active context while the request's hooks and handler run, so that the Temporal client's
// StartWorkflow span below it is its child. Fastify's own hooks rather than @fastify/otel or the http
// instrumentation, which patch modules at load (fragile in this ESM project run by tsx).
// - The span starts in the child logger factory, Fastify's first per-request step, so the request's
//   logger carries its ids from the "incoming request" line to "request completed" (lib/traceLog.ts).
// - The context is entered again before the handler: body parsing resumes from the socket's events,
//   outside the context the onRequest hook entered.
// Recorded: method, route, path (no query string), status. Never a header or a body.
// Without tracing (lib/tracing.ts) nothing is registered.

const requests = new WeakMap<IncomingMessage, { span: Span; ctx: Context }>();

export default fp(
  async (app: FastifyInstance) => {
    if (!tracing().enabled) return;
    const tracer = trace.getTracer('agent-governance-api');

    app.setChildLoggerFactory((logger, bindings, opts, raw) => {
      const req = raw as IncomingMessage;
      const parent = propagation.extract(ROOT_CONTEXT, req.headers);
      const method = req.method ?? 'GET';
      const span = tracer.startSpan(
        method,
        { kind: SpanKind.SERVER, attributes: { 'http.request.method': method, 'url.path': (req.url ?? '/').split('?')[0]! } },
        parent,
      );
      requests.set(req, { span, ctx: trace.setSpan(parent, span) });
      const { traceId, spanId } = span.spanContext();
      return tagLogger(logger.child(bindings, opts) as Logger, { trace_id: traceId, span_id: spanId }) as FastifyBaseLogger;
    });

    app.addHook('onRequest', (request, _reply, done) => {
      const r = requests.get(request.raw);
      if (!r) return done();
      const route = request.routeOptions.url;
      if (route) {
        r.span.updateName(`${request.method} ${route}`);
        r.span.setAttribute('http.route', route);
      }
      context.with(r.ctx, done);
    });
    app.addHook('preHandler', (request, _reply, done) => {
      const r = requests.get(request.raw);
      if (r) context.with(r.ctx, done);
      else done();
    });
    app.addHook('onResponse', (request, reply, done) => {
      const r = requests.get(request.raw);
      if (r) {
        r.span.setAttribute('http.response.status_code', reply.statusCode);
        if (reply.statusCode >= 500) r.span.setStatus({ code: SpanStatusCode.ERROR });
        r.span.end();
        requests.delete(request.raw);
      }
      done();
    });
    app.addHook('onRequestAbort', (request, done) => {
      const r = requests.get(request.raw);
      if (r) {
        r.span.setStatus({ code: SpanStatusCode.ERROR, message: 'aborted by the client' });
        r.span.end();
        requests.delete(request.raw);
      }
      done();
    });
  },
  { name: 'tracing' },
);
