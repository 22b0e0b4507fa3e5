import { afterAll, describe, expect, it } from '@jest/globals';
import { createCostMetrics } from '../../../src/cost/metrics.js';
import { notificationMetrics } from '../../../src/notifications/metrics.js';
import { Registry } from 'prom-client';
import type { EvaluationOutput } from '../../../src/spec/record.js';
import { createWorkerMetrics } from '../../../src/workers/metrics.js';
import { registerQuotaMetrics } from '../../../src/workers/quota-metrics.js';

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

describe('assay_evaluations_total', () => {
  it('counts each record under its executor: docker, kubernetes (also when older records name none), none', async () => {
    const registry = new Registry();
    const quota = registerQuotaMetrics(registry, () => Promise.resolve([]));
    const record = (cluster: string | null, executor?: 'docker' | 'kubernetes') =>
      ({
        team: 'research',
        outcome: cluster === null ? 'ConfigurationError' : 'Succeeded',
        cluster,
        ...(executor !== undefined ? { executor } : {}),
        timings: {},
      }) as unknown as EvaluationOutput;
    quota.observeRecord(record('local-docker', 'docker'));
    quota.observeRecord(record('local-docker', 'docker'));
    quota.observeRecord(record('local', 'kubernetes'));
    quota.observeRecord(record('local'));
    quota.observeRecord(record(null));
    const lines = (await registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith('assay_evaluations_total{'));
    expect(lines.sort()).toEqual([
      'assay_evaluations_total{team="research",outcome="ConfigurationError",executor="none"} 1',
      'assay_evaluations_total{team="research",outcome="Succeeded",executor="docker"} 2',
      'assay_evaluations_total{team="research",outcome="Succeeded",executor="kubernetes"} 2',
    ]);
  });
});
