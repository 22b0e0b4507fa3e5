/**
 * The cost counter on the worker's Prometheus registry (docs/cost.md, "Metrics"): incremented once per evaluation, when
 * its ledger entry is first written, so a retried record write does not count twice.
 */
import { Counter, Registry } from 'prom-client';
import type { LedgerEntry } from '../spec/cost.js';

export interface CostMetrics {
  readonly registry: Registry;
  record(entry: LedgerEntry): void;
}

export function createCostMetrics(registry: Registry = new Registry()): CostMetrics {
  const cost = new Counter({
    name: 'assay_evaluation_cost_total',
    help: 'Cost of finished evaluations, every attempt included, in the pricing currency',
    labelNames: ['team', 'user', 'cluster', 'currency'] as const,
    registers: [registry],
  });
  const evaluations = new Counter({
    name: 'assay_evaluation_costed_total',
    help: 'Evaluations whose cost was recorded, by whether it is partial (a price was missing)',
    labelNames: ['team', 'user', 'cluster', 'partial'] as const,
    registers: [registry],
  });
  return {
    registry,
    record(entry) {
      const cluster = entry.cluster ?? 'none';
      cost.inc({ team: entry.team, user: entry.user, cluster, currency: entry.currency }, entry.total);
      evaluations.inc({
        team: entry.team,
        user: entry.user,
        cluster,
        partial: entry.partial === null ? 'false' : 'true',
      });
    },
  };
}
