import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

// The worker's /metrics listeners (WORKER_METRICS_HOST: WORKER_METRICS_PORT for its own series,
// WORKER_SDK_METRICS_PORT for the Temporal SDK's, lib/metrics/sdkRelay.ts): plain node:http servers,
// since a worker has no web framework and needs one GET. Anything else is a 404.

/** A Prometheus text body and its content type. */
export interface Exposition {
  contentType: string;
  body: string;
}

export interface MetricsServer {
  /** host:port it listens on (the port the OS chose when asked for 0). */
  address: string;
  close(): Promise<void>;
}

/** Serves what `render` returns at GET /metrics; `variable` names the setting to change when the port is taken. */
export async function serveMetrics(render: () => Promise<Exposition>, host: string, port: number, variable: string): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: GET /metrics\n');
      return;
    }
    render().then(
      ({ contentType, body }) => res.writeHead(200, { 'content-type': contentType }).end(body),
      (err: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics failed: ${String(err)}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(`the worker's metrics cannot listen on ${host}:${port} (${err.code ?? err.message}); set ${variable}, or off`)),
    );
    server.listen(port, host, () => resolve());
  });
  const { port: bound } = server.address() as AddressInfo;
  return {
    address: `${host}:${bound}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
