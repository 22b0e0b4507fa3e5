/**
 * The worker's Prometheus endpoint (prom-client): one registry per process, served on `GET /metrics` at the port of
 * the worker config's `metrics:` section. Other parts of the worker register their own metrics on
 * {@link WorkerMetrics.registry}; metrics on prom-client's default registry (the webhook counters) are served too, and,
 * when given, the Temporal core's own scrape is appended (`./temporal-metrics.ts`).
 * This module only owns the registry and the HTTP server.
 */
import { createServer, type Server } from 'node:http';
import { Gauge, Registry, collectDefaultMetrics, register } from 'prom-client';
import { mergeScrapes } from './temporal-metrics.js';

export interface WorkerMetrics {
  readonly registry: Registry;
  /** The text `GET /metrics` answers. */
  scrape(): Promise<string>;
  /** Starts serving `GET /metrics`; resolves with the bound port (useful with port 0). */
  serve(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export interface WorkerMetricsOptions {
  readonly defaultMetrics?: boolean;
  /**
   * The Temporal core's Prometheus text, read at every scrape and appended after the Assay part; null when it could
   * not be read, which `assay_worker_temporal_metrics_up` reports as 0 (the Assay part is served all the same).
   */
  readonly temporalCore?: () => Promise<string | null>;
}

export function createWorkerMetrics(options: WorkerMetricsOptions = {}): WorkerMetrics {
  const registry = new Registry();
  if (options.defaultMetrics !== false)
    collectDefaultMetrics({ register: registry, prefix: 'assay_worker_' });
  const temporalCore = options.temporalCore;
  const up =
    temporalCore === undefined
      ? null
      : new Gauge({
          name: 'assay_worker_temporal_metrics_up',
          help: "1 when this scrape holds the Temporal SDK's own metrics (temporal_*), 0 when they could not be read",
          registers: [registry],
        });
  const scrape = async (): Promise<string> => {
    const core = temporalCore === undefined ? null : await temporalCore();
    up?.set(core === null ? 0 : 1);
    const assay = await Registry.merge([registry, register]).metrics();
    return core === null ? assay : mergeScrapes(assay, core);
  };
  let server: Server | null = null;
  return {
    registry,
    scrape,
    serve(port, host) {
      const s = createServer((req, res) => {
        if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
          res.writeHead(404).end();
          return;
        }
        scrape().then(
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
