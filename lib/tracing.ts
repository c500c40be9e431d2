import { trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { Resource } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { Config } from './config';

// Traces (README: Operations, Traces): the process's OpenTelemetry SDK. With OTEL_EXPORTER_OTLP_ENDPOINT
// set, a tracer provider is registered (AsyncLocalStorage context, W3C traceparent propagation) and its
// spans go in batches to <endpoint>/v1/traces as OTLP/HTTP JSON. Without it nothing is installed: the
// OpenTelemetry API stays a no-op, every span is a non-recording one and nothing is exported.
// The Temporal interceptors, the Fastify hooks and the OpenAI client's fetch only use the API, so they
// cost next to nothing then.

export interface Tracing {
  readonly enabled: boolean;
  /** Where the workflows' spans go (the `exporter` sink, workers/create.ts); undefined when disabled. */
  readonly spanProcessor?: SpanProcessor;
  readonly resource?: Resource;
  /** Sends the spans ended so far. */
  flush(): Promise<void>;
  /** Flushes, then stops exporting (process shutdown). */
  shutdown(): Promise<void>;
}

const DISABLED: Tracing = { enabled: false, flush: async () => undefined, shutdown: async () => undefined };

let current: Tracing = DISABLED;

/** This process's tracing; disabled until setupTracing enabled it. */
export const tracing = (): Tracing => current;

export type TracingConfig = Pick<Config, 'OTEL_EXPORTER_OTLP_ENDPOINT' | 'OTEL_SERVICE_NAME'>;

/** The OTLP/HTTP traces URL of an OTEL_EXPORTER_OTLP_ENDPOINT (the spec's base URL + /v1/traces). */
export const tracesUrl = (endpoint: string): string => `${endpoint.replace(/\/+$/, '')}/v1/traces`;

/**
 * Installs the SDK once per process, before any client, worker or server is made (they read the global
 * provider when they start spans). `service` names the process when OTEL_SERVICE_NAME is unset.
 */
export function setupTracing(cfg: TracingConfig, service: string): Tracing {
  if (current.enabled || !cfg.OTEL_EXPORTER_OTLP_ENDPOINT) return current;
  const resource = new Resource({ 'service.name': cfg.OTEL_SERVICE_NAME ?? service });
  // Batched: a span's end costs a push to an array; the export runs every few seconds, off the hot path.
  // A collector that does not answer costs at most 5 s per batch, within the processes' shutdown limit.
  const exporter = new OTLPTraceExporter({ url: tracesUrl(cfg.OTEL_EXPORTER_OTLP_ENDPOINT), timeoutMillis: 5000 });
  const spanProcessor = new BatchSpanProcessor(exporter);
  const provider = new NodeTracerProvider({ resource, spanProcessors: [spanProcessor] });
  provider.register();
  current = {
    enabled: true,
    spanProcessor,
    resource,
    flush: () => provider.forceFlush(),
    shutdown: async () => {
      await provider.shutdown();
      trace.disable();
      current = DISABLED;
    },
  };
  return current;
}
