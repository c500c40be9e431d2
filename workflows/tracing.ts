// The performance/window polyfill the OpenTelemetry SDK needs in the sandbox: first, before it loads.
import '@temporalio/interceptors-opentelemetry/lib/workflow/runtime';
import * as otel from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { BasicTracerProvider, SimpleSpanProcessor, type IdGenerator } from '@opentelemetry/sdk-trace-base';
import { extractContextFromHeaders, headersWithContext } from '@temporalio/interceptors-opentelemetry/lib/instrumentation';
import { ContextManager } from '@temporalio/interceptors-opentelemetry/lib/workflow/context-manager';
import { SpanName, SPAN_DELIMITER } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions';
import { SpanExporter } from '@temporalio/interceptors-opentelemetry/lib/workflow/span-exporter';
import {
  ContinueAsNew,
  workflowInfo,
  type ActivityInput,
  type ContinueAsNewInput,
  type GetLogAttributesInput,
  type LocalActivityInput,
  type Next,
  type SignalWorkflowInput,
  type StartChildWorkflowExecutionInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptors,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

// Workflow spans (RunWorkflow, StartActivity (local ones too), StartChildWorkflow, SignalExternalWorkflow, ContinueAsNew)
// that replay can neither duplicate nor change, with the SDK's header format (`_tracer-data`) and its
// span sink (`exporter`, lib/tracing.ts on the worker side), so they join the client's and the
// activities' spans (@temporalio/interceptors-opentelemetry) in one trace.
//
// Why not the SDK's own workflow interceptors (interceptors-opentelemetry 1.23.0, src/workflow):
// - Their tracer makes span ids with Math.random, which in a workflow is the history-seeded PRNG that
//   uuid4() also draws from. Every span would shift the random numbers the workflow code gets: the
//   agents' signal keys (workflows/agentChannel.ts) would differ from those in recorded histories, and
//   those histories (tests/histories/) would no longer replay. Here ids come from the run id and a
//   counter instead, and the PRNG is left alone.
// - They wrap each call in `await`s, so the workflow sees an activity's result some microtasks later
//   than without them, which can reorder what it does next. Here the workflow gets the very promise the
//   SDK returned; spans end in a reaction of their own.
// - They trace queries, which are not in the history: a query span would take a counter value that a
//   replay never takes, and later spans would get other ids on replay. Queries are not traced here.
// Replay: a span is exported when it ends, through a sink the SDK does not call while replaying, so a
// span that ended before a replay is not exported again; one still open is recreated by the replay
// with the same id and start time (the counter and the workflow clock are deterministic).

let counter = 0;

/** 32 bits of FNV-1a over `text`, seeded, as 8 hex digits: no PRNG, no Node builtin. */
function hash32(text: string, seed: number): string {
  let h = (0x811c9dc5 ^ Math.imul(seed, 0x9e3779b1)) >>> 0;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  // A final mix so that neighbouring counters differ in every digit.
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return ((h ^ (h >>> 16)) >>> 0).toString(16).padStart(8, '0');
}

const ids = (kind: string, words: number): string => {
  const key = `${workflowInfo().runId}/${kind}${++counter}`;
  const id = Array.from({ length: words }, (_, i) => hash32(key, i + 1)).join('');
  return /^0+$/.test(id) ? `${id.slice(0, -1)}1` : id; // all zeros is the invalid id
};

/** Span and trace ids from the run id and a counter: the same on every replay of the run. */
export const runIds: IdGenerator = { generateTraceId: () => ids('t', 4), generateSpanId: () => ids('s', 2) };

let tracer: otel.Tracer | undefined;
let contextManager: ContextManager | undefined;
/** The run's RunWorkflow span: signal handlers run outside its context, their log lines still name it. */
let runSpan: otel.SpanContext | undefined;

function getTracer(): otel.Tracer {
  if (!tracer) {
    // The sandbox's own context (AsyncLocalStorage) and W3C propagation, for the headers.
    contextManager = new ContextManager();
    otel.context.setGlobalContextManager(contextManager);
    otel.propagation.setGlobalPropagator(new W3CTraceContextPropagator());
    const provider = new BasicTracerProvider({ idGenerator: runIds, spanProcessors: [new SimpleSpanProcessor(new SpanExporter())] });
    tracer = provider.getTracer('agent-governance-workflow');
  }
  return tracer;
}

/** Ends `span` when `promise` settles, and hands back the same promise: no extra await for the workflow. */
function endWith<T>(span: otel.Span, promise: Promise<T>, benign?: (err: unknown) => boolean): Promise<T> {
  promise.then(
    () => {
      span.setStatus({ code: otel.SpanStatusCode.OK });
      span.end();
    },
    (err: unknown) => {
      if (!benign?.(err)) {
        span.setStatus({ code: otel.SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        if (err instanceof Error) span.recordException(err);
      }
      span.end();
    },
  );
  return promise;
}

/** Starts a span as a child of the active one and runs `fn` with it active. */
function traced<T>(name: string, fn: (span: otel.Span) => Promise<T>, parent = otel.context.active(), benign?: (err: unknown) => boolean): Promise<T> {
  const span = getTracer().startSpan(name, {}, parent);
  return endWith(
    span,
    otel.context.with(otel.trace.setSpan(parent, span), () => fn(span)),
    benign,
  );
}

const isContinueAsNew = (err: unknown): boolean => err instanceof ContinueAsNew;

class Inbound implements WorkflowInboundCallsInterceptor {
  execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    // The caller's span (the client's StartWorkflow, or the parent's StartChildWorkflow) when it sent one.
    const parent = extractContextFromHeaders(input.headers) ?? otel.ROOT_CONTEXT;
    const name = `${SpanName.WORKFLOW_EXECUTE}${SPAN_DELIMITER}${workflowInfo().workflowType}`;
    return traced(
      name,
      (span) => {
        runSpan = span.spanContext();
        return next(input);
      },
      parent,
      isContinueAsNew,
    );
  }
}

class Outbound implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(input: ActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>): Promise<unknown> {
    return traced(`${SpanName.ACTIVITY_START}${SPAN_DELIMITER}${input.activityType}`, () => next({ ...input, headers: headersWithContext(input.headers) }));
  }

  scheduleLocalActivity(input: LocalActivityInput, next: Next<WorkflowOutboundCallsInterceptor, 'scheduleLocalActivity'>): Promise<unknown> {
    return traced(`${SpanName.ACTIVITY_START}${SPAN_DELIMITER}${input.activityType}`, () => next({ ...input, headers: headersWithContext(input.headers) }));
  }

  startChildWorkflowExecution(
    input: StartChildWorkflowExecutionInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>,
  ): Promise<[Promise<string>, Promise<unknown>]> {
    return traced(`${SpanName.CHILD_WORKFLOW_START}${SPAN_DELIMITER}${input.workflowType}`, () =>
      next({ ...input, headers: headersWithContext(input.headers) }),
    );
  }

  signalWorkflow(input: SignalWorkflowInput, next: Next<WorkflowOutboundCallsInterceptor, 'signalWorkflow'>): Promise<void> {
    return traced(`${SpanName.WORKFLOW_SIGNAL}${SPAN_DELIMITER}${input.signalName}`, () => next({ ...input, headers: headersWithContext(input.headers) }));
  }

  continueAsNew(input: ContinueAsNewInput, next: Next<WorkflowOutboundCallsInterceptor, 'continueAsNew'>): Promise<never> {
    return traced(
      `${SpanName.CONTINUE_AS_NEW}${SPAN_DELIMITER}${input.options.workflowType}`,
      () => next({ ...input, headers: headersWithContext(input.headers) }),
      otel.context.active(),
      isContinueAsNew,
    );
  }

  /** The trace in the workflow's log lines (the SDK routes them to pino: workers/runtime.ts). */
  getLogAttributes(input: GetLogAttributesInput, next: Next<WorkflowOutboundCallsInterceptor, 'getLogAttributes'>): Record<string, unknown> {
    const active = otel.trace.getSpan(otel.context.active())?.spanContext();
    const span = active && otel.isSpanContextValid(active) ? active : runSpan;
    return next(span ? { trace_id: span.traceId, span_id: span.spanId, ...input } : input);
  }
}

export const interceptors = (): WorkflowInterceptors => {
  // Now, not at the first span: the propagator must be there when execute reads the caller's header.
  getTracer();
  return {
    inbound: [new Inbound()],
    outbound: [new Outbound()],
    internals: [
      {
        dispose(input, next) {
          contextManager?.disable();
          next(input);
        },
      },
    ],
  };
};
