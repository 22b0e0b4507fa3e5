/**
 * `assay list [--team T] [--user U] [--cluster C] [--phase P] [--outcome O]`: find evaluations through Temporal
 * visibility.
 */
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import type { EvaluationSummary } from '../assay-client.js';
import { outcomes, phases, type Outcome, type Phase } from '../../spec/record.js';
import { exitCodes } from './exit-codes.js';
import {
  outputOption,
  printData,
  usageExitsTwo,
  withClient,
  type CliIo,
  type OutputFormat,
} from './evaluation-common.js';

interface ListOptions {
  team?: string;
  user?: string;
  cluster?: string;
  phase?: Phase;
  outcome?: Outcome;
  limit: string;
  output: OutputFormat;
}

/** The table `assay list` prints: one row per evaluation, `-` for what is not known (yet). */
export function listTable(items: readonly EvaluationSummary[]): string {
  const table = new Table({
    head: ['evaluation', 'team', 'user', 'cluster', 'executor', 'phase', 'outcome', 'exit', 'started'],
    style: { head: [], border: [] },
  });
  for (const e of items) {
    table.push([
      e.evaluationId,
      e.team ?? '-',
      e.user ?? '-',
      e.cluster ?? '-',
      e.executor ?? '-',
      e.phase ?? '-',
      e.outcome ?? '-',
      e.exitCode === null ? '-' : String(e.exitCode),
      e.startTime.toISOString(),
    ]);
  }
  return table.toString();
}

export function listCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('list')
      .description('List evaluations, newest first, filtered by team, user, cluster, phase or outcome.')
      .option('--team <team>', 'only this team')
      .option('--user <user>', 'only this user')
      .option('--cluster <name>', 'only evaluations placed on this cluster')
      .addOption(new Option('--phase <phase>', 'only this phase').choices([...phases]))
      .addOption(new Option('--outcome <outcome>', 'only this outcome').choices([...outcomes]))
      .option('--limit <n>', 'at most this many', '50')
      .addOption(outputOption())
      .action(async (options: ListOptions) => {
        process.exitCode = await withClient(io, async (client) => {
          const limit = Number(options.limit);
          if (!Number.isInteger(limit) || limit < 1) {
            io.stderr.write(`assay: --limit must be a positive integer\n`);
            return exitCodes.invalidInput;
          }
          const items = await client.list({
            ...(options.team !== undefined ? { team: options.team } : {}),
            ...(options.user !== undefined ? { user: options.user } : {}),
            ...(options.cluster !== undefined ? { cluster: options.cluster } : {}),
            ...(options.phase !== undefined ? { phase: options.phase } : {}),
            ...(options.outcome !== undefined ? { outcome: options.outcome } : {}),
            limit,
          });
          if (options.output !== 'table') {
            printData(io, options.output, items);
            return exitCodes.succeeded;
          }
          io.stdout.write(`${listTable(items)}\n`);
          return exitCodes.succeeded;
        });
      }),
  );
}
