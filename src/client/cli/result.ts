/** `assay result ID`: wait for an evaluation's outcome and print its record; the exit code follows the outcome. */
import { Command } from 'commander';
import {
  exitCodeOf,
  outputOption,
  printRecord,
  uiLink,
  usageExitsTwo,
  waitForRecord,
  withClient,
  type CliIo,
  type OutputFormat,
} from './evaluation-common.js';

export function resultCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('result')
      .description('Wait for the outcome of an evaluation and print its record.')
      .argument('<id>', 'evaluation id')
      .addOption(outputOption())
      .action(async (id: string, options: { output: OutputFormat }) => {
        process.exitCode = await withClient(io, async (client) => {
          const record = await waitForRecord(io, client, id, false);
          printRecord(io, options.output, record, uiLink(client, record.workflowId));
          return exitCodeOf(record);
        });
      }),
  );
}
