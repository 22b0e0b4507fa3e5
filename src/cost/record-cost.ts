/**
 * Where the cost is settled (docs/cost.md): the central record activity prices the attempts with the cluster's
 * prices from the worker config, writes the ledger entry once and counts it in the metric.
 */
import type { ObjectStore } from '../storage/object-store.js';
import { pricingFor, type CostConfig } from '../spec/pricing-config.js';
import type { EvaluationCost } from '../spec/cost.js';
import type { EvaluationOutput } from '../spec/record.js';
import { evaluationCost } from './compute.js';
import { ledgerEntryOf, writeLedgerEntry, type LedgerSource } from './ledger.js';
import type { CostMetrics } from './metrics.js';
import { checkBudget, type OverBudgetEvent } from './budget.js';

export interface RecordCostDeps {
  readonly config: CostConfig;
  readonly metrics?: CostMetrics;
  /**
   * Told once per team and month, when the evaluation whose entry was just written took the team over its budget.
   * Hook for the notifications (webhook event `cost.overBudget`); unset: no budget is checked here.
   */
  readonly notifyOverBudget?: (event: OverBudgetEvent) => Promise<void>;
}

/** The evaluation's cost from its attempts (all of them, failed and infrastructure ones too). */
export function evaluationCostOf(
  deps: RecordCostDeps,
  output: Pick<EvaluationOutput, 'attempts' | 'cluster'>,
): EvaluationCost {
  return evaluationCost(output.attempts, pricingFor(deps.config, output.cluster), output.cluster);
}

/** Writes the ledger entry of a finished evaluation once, and counts it when this call wrote it. */
export async function recordCost(
  deps: RecordCostDeps,
  store: ObjectStore,
  record: LedgerSource,
  cost: EvaluationCost,
): Promise<void> {
  const entry = ledgerEntryOf(record, cost);
  if (entry === null) return;
  if (!(await writeLedgerEntry(store, entry))) return;
  deps.metrics?.record(entry);
  if (deps.notifyOverBudget === undefined || deps.config.budgets[entry.team] === undefined) return;
  const check = await checkBudget(store, deps.config, entry.team, new Date(entry.finishedAt));
  // Only the evaluation that crossed the line notifies (the month's spend without it was within the budget).
  if (check !== null && check.over && check.spent - entry.total <= check.budget.monthly) {
    await deps.notifyOverBudget({
      type: 'cost.overBudget',
      team: entry.team,
      month: check.month,
      budget: check.budget.monthly,
      spent: check.spent,
      currency: check.currency,
      evaluationId: entry.evaluationId,
    });
  }
}
