import { context, createContextKey, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, test } from 'node:test';
import { tracedFetch } from '../../agents/tracedFetch';
import { ConfigError, parseConfig } from '../../lib/config';
import { createLogger } from '../../lib/logger';
import { setupTracing, tracesUrl, tracing } from '../../lib/tracing';
import { workflowOptions } from '../../workers/create';
import { startOtlpReceiver } from '../helpers/otlp';

// Tracing's switch (lib/tracing.ts): without OTEL_EXPORTER_OTLP_ENDPOINT nothing is installed and
// nothing leaves the process; a bad endpoint is refused, naming the variable; with one, spans go to
// <endpoint>/v1/traces and log lines written inside a span carry its ids. The tests run in this order.

function logLines(): { logger: ReturnType<typeof createLogger>; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  return { lines, logger: createLogger('unit', 'info', { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) }) };
}

/** An HTTP server that records the headers of what it gets. */
async function recorder(): Promise<{ url: string; headers: IncomingHttpHeaders[]; close: () => Promise<void> }> {
  const headers: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    headers.push(req.headers);
    res.writeHead(200).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    headers,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

describe('tracing', () => {
  test('a bad OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_SERVICE_NAME is refused, naming the variable', () => {
    for (const bad of ['localhost:4318', 'ftp://collector:4318', 'http://', 'http://collector:4318?x=1', 'not a url']) {
      assert.throws(
        () => parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: bad }),
        (err: unknown) => err instanceof ConfigError && err.variable === 'OTEL_EXPORTER_OTLP_ENDPOINT' && /OTEL_EXPORTER_OTLP_ENDPOINT.*http/.test(err.message),
        bad,
      );
    }
    assert.throws(() => parseConfig({ OTEL_SERVICE_NAME: 'two words' }), /OTEL_SERVICE_NAME/);
    const cfg = parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318', OTEL_SERVICE_NAME: 'governance-eu' });
    assert.equal(cfg.OTEL_EXPORTER_OTLP_ENDPOINT, 'http://otel-collector:4318');
    assert.equal(cfg.OTEL_SERVICE_NAME, 'governance-eu');
    assert.equal(parseConfig({}).OTEL_EXPORTER_OTLP_ENDPOINT, undefined, 'off by default');
    assert.equal(tracesUrl('http://otel-collector:4318/'), 'http://otel-collector:4318/v1/traces');
    assert.equal(tracesUrl('https://collector.internal/otlp'), 'https://collector.internal/otlp/v1/traces');
  });

  test('without OTEL_EXPORTER_OTLP_ENDPOINT nothing is installed and nothing is exported', async () => {
    const receiver = await startOtlpReceiver();
    const http = await recorder();
    try {
      const t = setupTracing(parseConfig({}), 'agent-governance-unit');
      assert.equal(t.enabled, false);
      assert.equal(t.spanProcessor, undefined);
      // The OpenTelemetry API is left as it is: no provider, no context manager, no propagator.
      const span = trace.getTracer('unit').startSpan('nothing');
      assert.equal(span.isRecording(), false);
      span.end();
      const key = createContextKey('unit');
      assert.equal(
        context.with(ROOT_CONTEXT.setValue(key, 1), () => context.active().getValue(key)),
        undefined,
      );
      assert.deepEqual(propagation.fields(), []);
      // The workflows' span sink drops what it is given.
      const sink = workflowOptions().sinks.exporter.export;
      assert.doesNotThrow(() => sink.fn({} as never, []));
      // The provider calls carry no traceparent; log lines no trace ids.
      await tracedFetch(`${http.url}/chat/completions`, { method: 'POST', headers: { authorization: 'Bearer k' }, body: '{}' });
      assert.equal(http.headers[0]?.traceparent, undefined);
      assert.equal(http.headers[0]?.authorization, 'Bearer k', 'the request itself is unchanged');
      const { logger, lines } = logLines();
      logger.info('a line');
      assert.equal(lines[0]?.trace_id, undefined);
      await tracing().flush();
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(receiver.bodies.length, 0, 'nothing reached a collector');
    } finally {
      await receiver.close();
      await http.close();
    }
  });

  test('with an endpoint: spans reach <endpoint>/v1/traces, the provider call carries traceparent, log lines the ids', async () => {
    const receiver = await startOtlpReceiver();
    const http = await recorder();
    try {
      const t = setupTracing(parseConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url }), 'agent-governance-unit');
      assert.ok(t.enabled && t.spanProcessor);
      const { logger, lines } = logLines();
      const tracer = trace.getTracer('unit');
      const traceId = await tracer.startActiveSpan('parent', async (span) => {
        logger.info('inside');
        await tracedFetch(`${http.url}/v1/chat/completions?api_key=SECRET`, {
          method: 'POST',
          headers: { authorization: 'Bearer SECRET' },
          body: '{"p":"SECRET"}',
        });
        span.end();
        return span.spanContext().traceId;
      });
      logger.info('outside');
      assert.equal(lines[0]?.trace_id, traceId);
      assert.equal(lines[1]?.trace_id, undefined);
      await t.flush();
      const post = receiver.spans.find((s) => s.name === 'POST');
      const parent = receiver.spans.find((s) => s.name === 'parent');
      assert.ok(post && parent, `received ${receiver.spans.map((s) => s.name).join(', ')}`);
      assert.equal(post.parentSpanId, parent.spanId);
      assert.equal(post.service, 'agent-governance-unit', 'the process default when OTEL_SERVICE_NAME is unset');
      assert.equal(post.attributes['url.full'], `${http.url}/v1/chat/completions`, 'no query string');
      assert.equal(http.headers[0]?.traceparent, `00-${traceId}-${post.spanId}-01`);
      assert.ok(!receiver.bodies.join('').includes('SECRET'), 'no header, query or body exported');
    } finally {
      await tracing().shutdown();
      await receiver.close();
      await http.close();
    }
  });
});
