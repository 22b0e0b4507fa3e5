import { afterAll, describe, expect, it } from '@jest/globals';
import { createCostMetrics } from '../../../src/cost/metrics.js';
import { notificationMetrics } from '../../../src/notifications/metrics.js';
import { createWorkerMetrics } from '../../../src/workers/metrics.js';

describe('the worker metrics endpoint', () => {
  const metrics = createWorkerMetrics({ defaultMetrics: false });
  afterAll(() => metrics.close());

  it("serves its own registry's metrics and the webhook counters of the default registry on GET /metrics", async () => {
    createCostMetrics(metrics.registry);
    notificationMetrics.attempt('delivered');
    const port = await metrics.serve(0, '127.0.0.1');
    const res = await fetch(`http://127.0.0.1:${port}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('assay_webhook_delivery_attempts_total{outcome="delivered"}');
    expect(text).toMatch(/^# TYPE assay_\w*cost\w* counter$/m);
    expect((await fetch(`http://127.0.0.1:${port}/other`)).status).toBe(404);
  });
});
