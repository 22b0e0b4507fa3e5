/** The `metrics:` section of the worker config: where the worker serves Prometheus metrics (docs/quota.md, "Metrics"). */
import { z } from 'zod';

export const metricsConfigSchema = z
  .strictObject({
    /** TCP port of `GET /metrics`; null: no metrics endpoint. */
    port: z.number().int().min(1).max(65_535).nullable().default(null),
    /** Address to listen on; loopback unless a scraper elsewhere must reach it. */
    host: z.string().min(1).default('127.0.0.1'),
  })
  .prefault({});
export type MetricsConfig = z.infer<typeof metricsConfigSchema>;
