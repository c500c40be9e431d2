import { context, propagation, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';

// The OpenAI client's HTTP requests as CLIENT spans, children of the LLM activity's span, with the W3C
// traceparent sent along so that a provider (or a proxy) that traces joins the trace. A wrapper of the
// client's `fetch` option rather than an instrumentation library: those patch modules at load
// (require-in-the-middle), which is fragile in this ESM project run by tsx, and undici's diagnostics
// channel would trace every fetch of the process, not only the provider's.
// What a span records: method, host, port, the URL without query or credentials, the status code.
// Never a header (the Authorization header holds the key) and never a body (prompts and answers).
// The span ends when the response's headers arrive; a streamed answer goes on after it.

const tracer = trace.getTracer('agent-governance-llm-http');

const setter = { set: (headers: Headers, key: string, value: string) => headers.set(key, value) };

export const tracedFetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
  const request = input instanceof Request ? input : undefined;
  const url = new URL(request ? request.url : String(input));
  const method = (init?.method ?? request?.method ?? 'GET').toUpperCase();
  const span = tracer.startSpan(method, {
    kind: SpanKind.CLIENT,
    attributes: {
      'http.request.method': method,
      'server.address': url.hostname,
      'server.port': Number(url.port || (url.protocol === 'https:' ? 443 : 80)),
      'url.full': `${url.origin}${url.pathname}`,
    },
  });
  const headers = new Headers(init?.headers ?? request?.headers);
  propagation.inject(trace.setSpan(context.active(), span), headers, setter);
  try {
    const response = await fetch(input, { ...init, headers });
    span.setAttribute('http.response.status_code', response.status);
    if (response.status >= 400) span.setStatus({ code: SpanStatusCode.ERROR });
    return response;
  } catch (err) {
    // The error's name only: a message could quote the request.
    span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error)?.name ?? 'fetch failed' });
    throw err;
  } finally {
    span.end();
  }
};
