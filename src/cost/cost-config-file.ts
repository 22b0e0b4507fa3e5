/**
 * The `cost:` section of the worker config file, read by the CLI for budgets (`assay report cost`, `assay run`): the
 * file named by `--config` or `ASSAY_WORKER_CONFIG` (docs/cost.md, "Budgets").
 */
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { costConfigSchema, type CostConfig } from '../spec/pricing-config.js';

/** The file is unreadable or its `cost:` section invalid; the message names the file and each field. */
export class CostConfigError extends Error {
  readonly code = 'ASSAY_COST_CONFIG_INVALID';
  constructor(message: string) {
    super(message);
    this.name = 'CostConfigError';
  }
}

const fileSchema = z.object({ cost: costConfigSchema }).loose();

/**
 * Reads the cost section of `path`; the defaults (no budgets) when `path` is undefined.
 *
 * @throws {CostConfigError} when the file cannot be read or parsed, or the section is invalid.
 */
export async function loadCostConfig(path: string | undefined): Promise<CostConfig> {
  if (path === undefined || path === '') return costConfigSchema.parse(undefined);
  let data: unknown;
  try {
    data = parseYaml(await readFile(path, 'utf8'));
  } catch (err) {
    throw new CostConfigError(`cannot read ${path}: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(data ?? {});
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new CostConfigError(`${path}: ${issues}`);
  }
  return parsed.data.cost;
}
