/**
 * The worker's Prometheus endpoint (prom-client): one registry per process, served on `GET /metrics` at the port of
 * the worker config's `metrics:` section. Other parts of the worker register their own metrics on
 * {@link WorkerMetrics.registry}; metrics on prom-client's default registry (the webhook counters) are served too.
 * This module only owns the registry and the HTTP server.
 */
import { createServer, type Server } from 'node:http';
import { Registry, collectDefaultMetrics, register } from 'prom-client';

export interface WorkerMetrics {
  readonly registry: Registry;
  /** Starts serving `GET /metrics`; resolves with the bound port (useful with port 0). */
  serve(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export function createWorkerMetrics(options: { defaultMetrics?: boolean } = {}): WorkerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'assay_worker_' });
  let server: Server | null = null;
  return {
    registry,
    serve(port, host) {
      const s = createServer((req, res) => {
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
          res.writeHead(404).end();
          return;
        }
        Registry.merge([registry, register])
          .metrics()
          .then(
            (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
            (err: unknown) => res.writeHead(500).end(err instanceof Error ? err.message : String(err)),
          );
      });
      server = s;
      return new Promise((resolve, reject) => {
        s.once('error', reject);
        s.listen(port, host, () => {
          const address = s.address();
          resolve(typeof address === 'object' && address !== null ? address.port : port);
        });
      });
    },
    async close() {
      const s = server;
      server = null;
      if (s !== null) await new Promise<void>((resolve) => s.close(() => resolve()));
    },
  };
}
