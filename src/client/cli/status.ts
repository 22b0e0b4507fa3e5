/** `assay status ID`: phase, attempt, pod, timings and storage keys of an evaluation. */
import { Command } from 'commander';
import {
  outputOption,
  printStatus,
  uiLink,
  usageExitsTwo,
  withClient,
  type CliIo,
  type OutputFormat,
} from './evaluation-common.js';
import { exitCodes } from './exit-codes.js';

export function statusCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('status')
      .description('Show the phase, attempt, pod and timings of an evaluation.')
      .argument('<id>', 'evaluation id')
      .addOption(outputOption())
      .action(async (id: string, options: { output: OutputFormat }) => {
        process.exitCode = await withClient(io, async (client) => {
          const status = await client.status(id);
          printStatus(io, options.output, status, uiLink(client, `eval-${id}`));
          return exitCodes.succeeded;
        });
      }),
  );
}
