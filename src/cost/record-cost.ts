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
}

/** The evaluation's cost from its attempts (all of them, failed and infrastructure ones too). */
export function evaluationCostOf(
  deps: RecordCostDeps,
  output: Pick<EvaluationOutput, 'attempts' | 'cluster'>,
): EvaluationCost {
  return evaluationCost(output.attempts, pricingFor(deps.config, output.cluster), output.cluster, (cluster) =>
    pricingFor(deps.config, cluster),
  );
}

/**
 * Writes the ledger entry of a finished evaluation once (counted in the metric by the call that wrote it), and tells
 * whether this evaluation is the one that took its team over its monthly budget: the month's spend without it was
 * within the budget, with it is not. Asked again (a retried activity), it answers the same while no other entry of
 * the team lands in between; two evaluations that cross the line at the same moment may both see the other's entry
 * and neither report it. A failed budget check is logged by the caller's `onBudgetError` and answers null: the record
 * never waits on it.
 */
export async function recordCost(
  deps: RecordCostDeps,
  store: ObjectStore,
  record: LedgerSource,
  cost: EvaluationCost,
  onBudgetError: (err: unknown) => void = () => undefined,
): Promise<OverBudgetEvent | null> {
  const entry = ledgerEntryOf(record, cost);
  if (entry === null) return null;
  if (await writeLedgerEntry(store, entry)) deps.metrics?.record(entry);
  if (deps.config.budgets[entry.team] === undefined) return null;
  let check;
  try {
    check = await checkBudget(store, deps.config, entry.team, new Date(entry.finishedAt));
  } catch (err) {
    onBudgetError(err);
    return null;
  }
  if (check === null || !check.over || check.spent - entry.total > check.budget.monthly) return null;
  return {
    type: 'cost.overBudget',
    team: entry.team,
    month: check.month,
    budget: check.budget.monthly,
    spent: check.spent,
    currency: check.currency,
    evaluationId: entry.evaluationId,
  };
}
