import { createServer, type AddressInfo } from 'node:net';
import type { Exposition } from './server';

// The Temporal SDK's own series (Runtime.install's Prometheus exporter, workers/runtime.ts), served on
// WORKER_SDK_METRICS_PORT through this relay. Why a relay: the SDK core of @temporalio/* 1.23.0 ignores
// its `countersTotalSuffix` option (temporalio/sdk-rust issue 1526), so its counters come without the
// `_total` that Prometheus's naming rules and `promtool check metrics` require. The exporter itself
// listens on a loopback port of its own; the relay reads it and adds the suffix to each counter that
// lacks it. Once the SDK honours the option, bind the exporter to WORKER_SDK_METRICS_PORT and drop this.

/** The body with `_total` added to every counter's name that lacks it (HELP, TYPE and sample lines). */
export function withCounterTotals(body: string): string {
  const counters = new Set<string>();
  for (const m of body.matchAll(/^# TYPE (\S+) counter$/gm)) if (!m[1]!.endsWith('_total')) counters.add(m[1]!);
  if (!counters.size) return body;
  return body
    .split('\n')
    .map((line) => {
      const m = /^(# (?:HELP|TYPE) )?([a-zA-Z_:][a-zA-Z0-9_:]*)(.*)$/.exec(line);
      if (!m || !counters.has(m[2]!)) return line;
      // A sample line: the name ends at `{` or a space; a comment: at the space before help or type.
      if (m[1] === undefined && !/^[{\s]/.test(m[3]!)) return line;
      return `${m[1] ?? ''}${m[2]}_total${m[3]}`;
    })
    .join('\n');
}

/** Reads the SDK exporter at `upstream` (http://127.0.0.1:port/metrics) and renames its counters. */
export function sdkMetricsRelay(upstream: string): () => Promise<Exposition> {
  return async () => {
    const res = await fetch(upstream, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`the SDK exporter answered ${res.status}`);
    return { contentType: res.headers.get('content-type') ?? 'text/plain; version=0.0.4', body: withCounterTotals(await res.text()) };
  };
}

/** A free port on 127.0.0.1 for the SDK exporter to bind (the OS's choice, released for the exporter to take). */
export function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}
