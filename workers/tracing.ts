import { OpenTelemetryActivityInboundInterceptor, OpenTelemetryActivityOutboundInterceptor } from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptors, ActivityInterceptorsFactory } from '@temporalio/worker';
import { activeTraceIds, type TraceIds } from '../lib/traceLog';

// The activities' side of a trace: the SDK's interceptors (a RunActivity span, child of the workflow's
// StartActivity span whose context came in the activity's headers; trace ids in the lines the activity
// logs while it runs), plus the span's ids remembered for the lines the SDK writes itself after the span
// has ended ("Activity completed", "Activity failed"), outside its context. The SDK's "Activity started"
// comes before any interceptor has seen the headers: it is the one line without a trace.

export const activityTracing: ActivityInterceptorsFactory = (ctx): ActivityInterceptors => {
  const inbound = new OpenTelemetryActivityInboundInterceptor(ctx);
  const outbound = new OpenTelemetryActivityOutboundInterceptor(ctx);
  let ids: TraceIds | undefined;
  return {
    inbound: {
      execute: (input, next) =>
        inbound.execute(input, (i) => {
          ids = activeTraceIds();
          return next(i);
        }),
    },
    outbound: {
      getLogAttributes: (input, next) => outbound.getLogAttributes(input, (attrs) => next(ids && !('trace_id' in attrs) ? { ...ids, ...attrs } : attrs)),
      getMetricTags: (input, next) => outbound.getMetricTags(input, next),
    },
  };
};
