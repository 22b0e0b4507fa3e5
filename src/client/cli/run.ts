/** `assay run -f FILE [--id KEY] [--wait|--follow] [-o table|json|yaml]`: start an evaluation (and wait for it). */
import { Command } from 'commander';
import { formatSpecIssue } from '../../spec/issues.js';
import { exitCodes } from './exit-codes.js';
import {
  exitCodeOf,
  outputOption,
  printData,
  printRecord,
  uiLink,
  usageExitsTwo,
  waitForRecord,
  withClient,
  type CliIo,
  type OutputFormat,
} from './evaluation-common.js';
import { ManifestFileError, loadEvaluationJobFile, sourceName } from './manifest-file.js';
import { followLogs } from '../follow.js';
import { createS3ObjectStore, loadS3Config } from '../../storage/index.js';
import { followKube } from './logs.js';
import { describeExisting } from '../assay-client.js';
import { budgetGate } from './budget-gate.js';

interface RunOptions {
  file: string;
  id?: string;
  wait?: boolean;
  follow?: boolean;
  output: OutputFormat;
}

export async function runRun(options: RunOptions, io: CliIo): Promise<number> {
  let parsed;
  try {
    parsed = await loadEvaluationJobFile(options.file);
  } catch (err) {
    if (err instanceof ManifestFileError) {
      io.stderr.write(`${err.message}\n`);
      return exitCodes.invalidInput;
    }
    throw err;
  }
  if (!parsed.ok) {
    for (const issue of parsed.issues) {
      io.stderr.write(
        `${issue.path === '' ? `${sourceName(options.file)}: ${issue.message}` : formatSpecIssue(issue)}\n`,
      );
    }
    return exitCodes.invalidInput;
  }
  const refused = await budgetGate(io, parsed.value.spec.team);
  if (refused !== null) return refused;
  return withClient(io, async (client) => {
    const started = await client.start(parsed.value, {
      ...(options.id !== undefined ? { idempotencyKey: options.id } : {}),
    });
    const link = uiLink(client, started.workflowId);
    if (started.existingEvaluation !== undefined) {
      io.stderr.write(
        `evaluation ${started.evaluationId} already exists (${describeExisting(started.existingEvaluation)})\n`,
      );
    }
    if (options.wait !== true && options.follow !== true) {
      const summary = {
        evaluationId: started.evaluationId,
        workflowId: started.workflowId,
        existing: started.existing,
        ...(link !== null ? { webUi: link } : {}),
      };
      if (options.output === 'table') {
        io.stdout.write(
          `${started.existing ? 'already submitted' : 'submitted'}: evaluation ${started.evaluationId}\n` +
            (link !== null ? `web ui: ${link}\n` : ''),
        );
      } else printData(io, options.output, summary);
      return exitCodes.succeeded;
    }
    if (options.output === 'table' || options.follow === true) {
      io.stderr.write(
        `${started.existing ? 'following existing' : 'started'} evaluation ${started.evaluationId}` +
          `${link !== null ? ` — ${link}` : ''}\n`,
      );
    }
    // Machine-readable output keeps stdout for the record alone: the logs then go to stderr.
    const logIo = options.output === 'table' ? io : { stdout: io.stderr, stderr: io.stderr };
    const following =
      options.follow === true
        ? followLogs({
            status: () => client.status(started.evaluationId),
            store: createS3ObjectStore(loadS3Config()),
            kube: followKube(),
            stdout: logIo.stdout,
            stderr: logIo.stderr,
            onAttempt: (n) => io.stderr.write(`==> attempt ${n} <==\n`),
          })
        : Promise.resolve();
    const [record] = await Promise.all([
      waitForRecord(io, client, started.evaluationId, options.follow === true),
      following,
    ]);
    printRecord(io, options.output, record, link);
    return exitCodeOf(record);
  });
}

export function runCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('run')
      .description('Start an evaluation from an EvaluationJob manifest.')
      .requiredOption('-f, --file <file>', 'manifest file, YAML or JSON ("-" reads stdin)')
      .option(
        '--id <key>',
        'idempotency key, used as the evaluation id (default: metadata.name, else generated)',
      )
      .option('--wait', 'wait for the outcome and print the record; the exit code follows the outcome')
      .option('--follow', 'like --wait, printing each phase change and the logs live as the pod prints them')
      .addOption(outputOption())
      .action(async (options: RunOptions) => {
        process.exitCode = await runRun(options, io);
      }),
  );
}
