/**
 * Budgets (docs/cost.md, "Budgets"): a team's spend this calendar month (UTC) from the ledger, checked against its
 * monthly budget by `assay run` (a warning, or a refusal when `hardStop`) and by the record activity, which tells
 * the evaluation that took the team over its budget to send the `overBudget` webhook event.
 */
import type { ObjectStore } from '../storage/object-store.js';
import type { Budget, CostConfig } from '../spec/pricing-config.js';
import { costReport } from './report/cost-report.js';

export interface BudgetCheck {
  team: string;
  month: string;
  budget: Budget;
  spent: number;
  currency: string | null;
  over: boolean;
}

/** The first instant of the UTC month of `at`. */
export function monthStart(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

/**
 * The team's spend this month against its budget; null when it has none. Reads the month's ledger (one listing per
 * day so far and one read per entry): cheap for hundreds of evaluations a month, seconds for tens of thousands.
 */
export async function checkBudget(
  store: ObjectStore,
  config: Pick<CostConfig, 'budgets'>,
  team: string,
  at: Date = new Date(),
): Promise<BudgetCheck | null> {
  const budget = config.budgets[team];
  if (budget === undefined) return null;
  const from = monthStart(at);
  const report = await costReport(store, { from, to: new Date(at.getTime() + 1), by: { kind: 'team' } });
  const spent = report.groups.find((g) => g.group === team)?.total ?? 0;
  return {
    team,
    month: from.toISOString().slice(0, 7),
    budget,
    spent,
    currency: report.currency,
    over: spent > budget.monthly,
  };
}

/** The figures, for a warning or a refusal. */
export function describeBudget(check: BudgetCheck): string {
  const cur = check.currency ?? '';
  const pct = ((check.spent / check.budget.monthly) * 100).toFixed(0);
  return `team ${check.team} has spent ${check.spent.toFixed(2)} ${cur} of its ${check.budget.monthly.toFixed(2)} ${cur} budget for ${check.month} (${pct} %)`.replaceAll(
    '  ',
    ' ',
  );
}

/**
 * What the record activity answers when an evaluation took its team over budget; the evaluation then sends the
 * webhook event `overBudget` with these figures.
 */
export interface OverBudgetEvent {
  type: 'cost.overBudget';
  team: string;
  month: string;
  budget: number;
  spent: number;
  currency: string | null;
  /** The evaluation whose cost crossed the budget. */
  evaluationId: string;
}
