/** `assay cancel ID [--wait]`: cancel an evaluation (its Job is deleted, the outcome recorded as Cancelled). */
import { Command } from 'commander';
import { exitCodes } from './exit-codes.js';
import {
  exitCodeOf,
  printRecord,
  uiLink,
  usageExitsTwo,
  waitForRecord,
  withClient,
  type CliIo,
} from './evaluation-common.js';

export function cancelCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('cancel')
      .description('Cancel an evaluation: its Job is deleted and the outcome recorded as Cancelled.')
      .argument('<id>', 'evaluation id')
      .option('--wait', 'wait until the evaluation has cleaned up and print its record')
      .action(async (id: string, options: { wait?: boolean }) => {
        process.exitCode = await withClient(io, async (client) => {
          await client.cancel(id);
          if (options.wait !== true) {
            io.stdout.write(`cancellation of evaluation ${id} requested\n`);
            return exitCodes.succeeded;
          }
          const record = await waitForRecord(io, client, id, false);
          printRecord(io, 'table', record, uiLink(client, record.workflowId));
          return exitCodeOf(record);
        });
      }),
  );
}
