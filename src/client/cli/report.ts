/**
 * `assay report cost --from --to --by team|user|cluster|label:<key> [-o table|csv|json|html] [--out FILE]`: showback
 * and chargeback from the cost ledger in object storage (docs/cost.md, "Reports"). Reads `ASSAY_S3_*` and, for
 * budgets, the worker config (`--config` or `ASSAY_WORKER_CONFIG`).
 */
import { writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { CostConfigError, loadCostConfig } from '../../cost/cost-config-file.js';
import { parseGroupBy } from '../../cost/report/aggregate.js';
import { costReport } from '../../cost/report/cost-report.js';
import { renderCsv, renderHtml, renderJson, renderTable } from '../../cost/report/render.js';
import { createS3ObjectStore, loadS3Config } from '../../storage/index.js';
import { exitCodes } from './exit-codes.js';
import { usageExitsTwo, type CliIo } from './evaluation-common.js';

export const reportFormats = ['table', 'csv', 'json', 'html'] as const;

/** A day (`2026-11-01`, its UTC midnight; as `--to`, the end of that day) or an ISO timestamp. */
function instant(end: boolean) {
  return z.string().transform((text, ctx) => {
    const day = /^\d{4}-\d{2}-\d{2}$/.test(text);
    const at = new Date(day ? `${text}T00:00:00Z` : text);
    if (Number.isNaN(at.getTime())) {
      ctx.addIssue({
        code: 'custom',
        message: `${JSON.stringify(text)} is not a date (YYYY-MM-DD) or an ISO timestamp`,
      });
      return z.NEVER;
    }
    if (day && end) at.setUTCDate(at.getUTCDate() + 1);
    return at;
  });
}

const optionsSchema = z
  .object({
    from: instant(false).optional(),
    to: instant(true).optional(),
    by: z.string().transform((text, ctx) => {
      const by = parseGroupBy(text);
      if (by === null) {
        ctx.addIssue({
          code: 'custom',
          message: `must be team, user, cluster or label:<key>, not ${JSON.stringify(text)}`,
        });
        return z.NEVER;
      }
      return by;
    }),
    output: z.enum(reportFormats),
    out: z.string().min(1).optional(),
    config: z.string().optional(),
    ledgerPrefix: z.string().min(1).optional(),
  })
  .transform((o, ctx) => {
    const now = new Date();
    const from = o.from ?? new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), 1));
    const to = o.to ?? now;
    if (to <= from) ctx.addIssue({ code: 'custom', path: ['to'], message: 'must be after --from' });
    if (to.getTime() - from.getTime() > 3660 * 86_400_000) {
      ctx.addIssue({ code: 'custom', path: ['to'], message: 'the range may span at most ten years' });
    }
    return { ...o, from, to };
  });

export function reportCommand(io: CliIo = process): Command {
  const cost = usageExitsTwo(
    new Command('cost')
      .description(
        'Cost per team, user, cluster or label from the cost ledger; budgets flagged (chargeback).',
      )
      .option('--from <date>', 'start (YYYY-MM-DD or ISO timestamp; default: the first of this month, UTC)')
      .option('--to <date>', 'end (a day counts whole; default: now)')
      .option('--by <group>', 'team | user | cluster | label:<key>', 'team')
      .addOption(
        new Option('-o, --output <format>', 'output format').choices([...reportFormats]).default('table'),
      )
      .option('--out <file>', 'write to this file instead of stdout')
      .option('--config <file>', 'worker config with the budgets (default: $ASSAY_WORKER_CONFIG)')
      .addOption(new Option('--ledger-prefix <prefix>', 'another ledger root than ledger/cost/').hideHelp())
      .action(async (raw: Record<string, unknown>) => {
        process.exitCode = await runReport(io, raw);
      }),
  );
  return usageExitsTwo(new Command('report').description('Reports from object storage.').addCommand(cost));
}

async function runReport(io: CliIo, raw: Record<string, unknown>): Promise<number> {
  const parsed = optionsSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      io.stderr.write(`assay: --${issue.path.join('.')}: ${issue.message}\n`);
    return exitCodes.invalidInput;
  }
  const options = parsed.data;
  let budgets;
  try {
    budgets = (await loadCostConfig(options.config ?? process.env.ASSAY_WORKER_CONFIG)).budgets;
  } catch (err) {
    if (!(err instanceof CostConfigError)) throw err;
    io.stderr.write(`assay: ${err.message}\n`);
    return exitCodes.invalidInput;
  }
  let report;
  try {
    report = await costReport(createS3ObjectStore(loadS3Config()), {
      from: options.from,
      to: options.to,
      by: options.by,
      budgets,
      ...(options.ledgerPrefix !== undefined ? { prefix: options.ledgerPrefix } : {}),
    });
  } catch (err) {
    io.stderr.write(`assay: reading the cost ledger failed: ${(err as Error).message}\n`);
    return exitCodes.infrastructure;
  }
  const text =
    options.output === 'csv'
      ? renderCsv(report)
      : options.output === 'json'
        ? renderJson(report)
        : options.output === 'html'
          ? renderHtml(report)
          : renderTable(report);
  if (options.out !== undefined) await writeFile(options.out, text);
  else io.stdout.write(text);
  if (report.malformedCount > 0 && options.output !== 'table') {
    io.stderr.write(
      `assay: ${report.malformedCount} malformed ledger entries skipped (listed in the report)\n`,
    );
  }
  return 0;
}
