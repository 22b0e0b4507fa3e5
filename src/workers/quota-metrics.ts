/**
 * Quota and outcome metrics (docs/quota.md, "Metrics"). Limits, use and queue length are read from the team quota
 * workflows when Prometheus scrapes (their `quota` query), so every worker reports the same numbers; admissions, the
 * queue wait and outcomes (by executor too: docs/migration.md) are counted as this worker writes records.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { QuotaSnapshot } from '../spec/quota.js';
import type { EvaluationOutput } from '../spec/record.js';

export interface QuotaMetrics {
  /** Counts an evaluation's outcome, and its admission and queue wait when it held a reservation. */
  observeRecord(record: EvaluationOutput): void;
}

/**
 * The `executor` label of a record: what ran its attempts; `kubernetes` for records from before the choice existed
 * (they name a cluster but no executor), `none` for an evaluation that never got a cluster. Three values at most.
 */
export function executorLabel(record: Pick<EvaluationOutput, 'cluster' | 'executor'>): string {
  if (record.executor !== undefined) return record.executor;
  return record.cluster === null ? 'none' : 'kubernetes';
}

export function registerQuotaMetrics(
  registry: Registry,
  snapshots: () => Promise<QuotaSnapshot[]>,
): QuotaMetrics {
  let last: Promise<QuotaSnapshot[]> | null = null;
  // One read of the quota workflows per scrape, shared by the three gauges.
  const read = (): Promise<QuotaSnapshot[]> => {
    last ??= snapshots()
      .catch(() => [])
      .finally(() => setTimeout(() => (last = null), 500).unref());
    return last;
  };
  const dims = (l: { maxRunning?: number; cpu?: number; memory?: number; gpu?: Record<string, number> }) => [
    ...(l.maxRunning !== undefined ? [['running', l.maxRunning] as const] : []),
    ...(l.cpu !== undefined ? [['cpu', l.cpu / 1000] as const] : []),
    ...(l.memory !== undefined ? [['memory_bytes', l.memory] as const] : []),
    ...Object.entries(l.gpu ?? {}).map(([t, n]) => [`gpu_${t}`, n] as const),
  ];
  new Gauge({
    name: 'assay_quota_limit',
    help: 'Team quota limits (running evaluations, cpu cores, memory bytes, gpus per type)',
    labelNames: ['team', 'resource'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await read())
        for (const [r, v] of dims(s.policy)) this.set({ team: s.team, resource: r }, v);
    },
  });
  new Gauge({
    name: 'assay_quota_in_use',
    help: 'What a team holds reservations for',
    labelNames: ['team', 'resource'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await read()) {
        const u = s.inUse;
        for (const [r, v] of dims({ maxRunning: u.running, cpu: u.cpu, memory: u.memory, gpu: u.gpu }))
          this.set({ team: s.team, resource: r }, v);
      }
    },
  });
  new Gauge({
    name: 'assay_quota_queued',
    help: "Evaluations waiting in a team's quota queue",
    labelNames: ['team'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const s of await read()) this.set({ team: s.team }, s.queue.length);
    },
  });
  const admissions = new Counter({
    name: 'assay_quota_admissions_total',
    help: 'Evaluations admitted by their team quota (counted when their record is written)',
    labelNames: ['team'],
    registers: [registry],
  });
  const wait = new Histogram({
    name: 'assay_quota_queue_wait_seconds',
    help: 'Time from joining the team queue to admission',
    labelNames: ['team'],
    buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 300, 900, 3600, 14_400],
    registers: [registry],
  });
  const outcomes = new Counter({
    name: 'assay_evaluations_total',
    help: 'Evaluations by outcome and executor (kubernetes, docker; none when never placed on a cluster)',
    labelNames: ['team', 'outcome', 'executor'],
    registers: [registry],
  });
  return {
    observeRecord(record) {
      outcomes.inc({ team: record.team, outcome: record.outcome, executor: executorLabel(record) });
      if (record.timings.admittedAt !== undefined) {
        admissions.inc({ team: record.team });
        wait.observe({ team: record.team }, record.timings.queueWaitSeconds ?? 0);
      }
    },
  };
}
