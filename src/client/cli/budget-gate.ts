/**
 * The budget check of `assay run` (docs/cost.md, "Budgets"): when the worker config (`ASSAY_WORKER_CONFIG`) gives the
 * team a monthly budget and the team has spent it, a warning on stderr — or, with `hardStop`, a refusal with exit 2
 * and the figures. A ledger that cannot be read does not block a run (a warning says so).
 */
import { CostConfigError, loadCostConfig } from '../../cost/cost-config-file.js';
import { checkBudget, describeBudget } from '../../cost/budget.js';
import { createS3ObjectStore, loadS3Config } from '../../storage/index.js';
import { exitCodes } from './exit-codes.js';
import type { CliIo } from './evaluation-common.js';

/** Null: go ahead; else the exit code to stop with. */
export async function budgetGate(
  io: CliIo,
  team: string,
  configPath: string | undefined = process.env.ASSAY_WORKER_CONFIG,
): Promise<number | null> {
  let config;
  try {
    config = await loadCostConfig(configPath);
  } catch (err) {
    if (!(err instanceof CostConfigError)) throw err;
    io.stderr.write(`assay: ${err.message}\n`);
    return exitCodes.invalidInput;
  }
  if (config.budgets[team] === undefined) return null;
  let check;
  try {
    check = await checkBudget(createS3ObjectStore(loadS3Config()), config, team);
  } catch (err) {
    io.stderr.write(
      `assay: warning: the budget of team ${team} was not checked: ${(err as Error).message}\n`,
    );
    return null;
  }
  if (check === null || !check.over) return null;
  if (check.budget.hardStop) {
    io.stderr.write(
      `assay: refused: ${describeBudget(check)}; new evaluations are stopped until next month\n`,
    );
    return exitCodes.invalidInput;
  }
  io.stderr.write(`assay: warning: over budget: ${describeBudget(check)}\n`);
  return null;
}
