/**
 * `assay batch run -f FILE [--id ID] [--wait] [--follow]`, `assay batch status|result|cancel ID`, each with
 * `-o table|json|csv` (docs/batches.md). `run --wait` and `result` print the summary (one row per evaluation) and
 * exit 0 when every evaluation succeeded, 1 when some did not, 4 when the batch was cancelled.
 */
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import { summaryCsv } from '../../batches/summary.js';
import type { BatchProgress, BatchResult, BatchSummary } from '../../spec/evaluation-batch-run.js';
import { formatSpecIssue } from '../../spec/issues.js';
import { InvalidEvaluationSpecError } from '../../spec/evaluation-job.js';
import { createS3ObjectStore, loadS3Config } from '../../storage/index.js';
import { BatchClient, BatchNotFoundError, maxEvaluationsFromEnv } from '../batch-client.js';
import {
  connectFromEnv,
  printData,
  spinner,
  uiLink,
  usageExitsTwo,
  type CliIo,
} from './evaluation-common.js';
import { exitCodes } from './exit-codes.js';
import { ManifestFileError, parseManifestText, readManifestText } from './manifest-file.js';

type BatchOutput = 'table' | 'json' | 'csv';

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format')
    .choices(['table', 'json', 'csv'])
    .default('table');
}

/** `[#######-----]  7/12 done · 4 running · 1 queued · 1 failed` */
export function progressLine(p: BatchProgress, width = 24): string {
  const done = p.succeeded + p.failed + p.cancelled;
  const filled = p.total === 0 ? width : Math.round((done / p.total) * width);
  return (
    `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${done}/${p.total} done · ${p.running} running · ` +
    `${p.queued} queued · ${p.failed} failed${p.cancelled > 0 ? ` · ${p.cancelled} cancelled` : ''} (${p.phase})`
  );
}

function exitCodeOfBatch(result: BatchResult): number {
  if (result.outcome === 'Succeeded') return exitCodes.succeeded;
  return result.outcome === 'Cancelled' ? exitCodes.cancelled : exitCodes.failed;
}

function printSummary(io: CliIo, format: BatchOutput, summary: BatchSummary): void {
  if (format === 'json') return printData(io, 'json', summary);
  if (format === 'csv') {
    io.stdout.write(summaryCsv(summary));
    return;
  }
  const table = new Table({
    head: ['#', 'evaluation', 'values', 'outcome', 'exit', 'seconds', 'result'],
    style: { head: [], border: [] },
  });
  for (const row of summary.evaluations) {
    table.push([
      String(row.index),
      row.evaluationId,
      Object.entries(row.values)
        .map(([k, v]) => `${k}=${v}`)
        .join(' '),
      row.outcome,
      row.exitCode === null ? '-' : String(row.exitCode),
      row.durationSeconds === null ? '-' : String(row.durationSeconds),
      row.result === null ? '-' : JSON.stringify(row.result).slice(0, 60),
    ]);
  }
  const c = summary.counts;
  io.stdout.write(
    `batch ${summary.batchId}: ${summary.outcome} — ${c.succeeded} succeeded, ${c.failed} failed, ` +
      `${c.cancelled} cancelled of ${summary.total}\n${table.toString()}\n`,
  );
}

function printProgress(io: CliIo, format: BatchOutput, p: BatchProgress): void {
  if (format === 'json') return printData(io, 'json', p);
  if (format === 'csv') {
    const keys = Object.keys(p) as (keyof BatchProgress)[];
    io.stdout.write(`${keys.join(',')}\n${keys.map((k) => String(p[k])).join(',')}\n`);
    return;
  }
  io.stdout.write(`batch ${p.batchId}: ${progressLine(p)}\n`);
}

async function withBatchClient(io: CliIo, body: (client: BatchClient) => Promise<number>): Promise<number> {
  const assay = await connectFromEnv();
  try {
    return await body(new BatchClient(assay.temporal, assay.taskQueue));
  } catch (err) {
    if (err instanceof InvalidEvaluationSpecError) {
      for (const issue of err.issues) io.stderr.write(`${formatSpecIssue(issue)}\n`);
      return exitCodes.invalidInput;
    }
    if (err instanceof BatchNotFoundError) {
      io.stderr.write(`assay: ${err.message}\n`);
      return exitCodes.invalidInput;
    }
    throw err;
  } finally {
    await assay.close();
  }
}

/** Waits for the end, drawing the progress bar (a terminal) or one line per change on stderr (`follow`). */
async function waitAndPrint(
  io: CliIo,
  client: BatchClient,
  batchId: string,
  format: BatchOutput,
  follow: boolean,
): Promise<number> {
  const spin = follow ? null : spinner(io, `batch ${batchId}: waiting`);
  let done = false;
  let last = '';
  const watcher = (async () => {
    while (!done) {
      try {
        const line = progressLine(await client.progress(batchId));
        if (line !== last) {
          last = line;
          if (follow) io.stderr.write(`${new Date().toISOString()} ${batchId} ${line}\n`);
          else spin?.update(`batch ${batchId} ${line}`);
        }
      } catch {
        // The query needs a worker; a transient failure only delays the display.
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  })();
  let result: BatchResult;
  try {
    result = await client.result(batchId);
  } finally {
    done = true;
    spin?.stop();
    await watcher;
  }
  printSummary(io, format, await client.summary(createS3ObjectStore(loadS3Config()), result));
  return exitCodeOfBatch(result);
}

export function batchCommand(io: CliIo = process): Command {
  const batch = new Command('batch').description(
    'Run many evaluations from one template (a matrix or a list).',
  );
  batch.addCommand(
    usageExitsTwo(
      new Command('run')
        .description('Validate a batch (EvaluationBatch manifest) and start it.')
        .requiredOption('-f, --file <file>', 'EvaluationBatch manifest (YAML or JSON; - for stdin)')
        .option('--id <id>', 'batch id (default metadata.name, else generated)')
        .option('--wait', 'wait for the end and print the summary')
        .option('--follow', 'like --wait, printing each progress change on stderr')
        .addOption(outputOption())
        .action(
          async (options: {
            file: string;
            id?: string;
            wait?: boolean;
            follow?: boolean;
            output: BatchOutput;
          }) => {
            let manifest: unknown;
            let maxEvaluations: number;
            try {
              manifest = parseManifestText(await readManifestText(options.file), options.file);
              maxEvaluations = maxEvaluationsFromEnv();
            } catch (err) {
              if (!(err instanceof ManifestFileError) && !(err instanceof Error && err.name === 'ZodError'))
                throw err;
              io.stderr.write(`assay: ${err.message}\n`);
              process.exitCode = exitCodes.invalidInput;
              return;
            }
            process.exitCode = await withBatchClient(io, async (client) => {
              const started = await client.start(manifest, {
                maxEvaluations,
                ...(options.id !== undefined ? { id: options.id } : {}),
              });
              const assayUi = uiLink(
                { namespace: client.temporal.options.namespace } as never,
                started.workflowId,
              );
              if (options.wait !== true && options.follow !== true) {
                const out = { ...started, ...(assayUi !== null ? { webUi: assayUi } : {}) };
                if (options.output === 'json') printData(io, 'json', out);
                else
                  io.stdout.write(
                    `${started.existing ? 'already submitted' : 'submitted'}: batch ${started.batchId} ` +
                      `(${started.size} evaluations)\n${assayUi !== null ? `web ui: ${assayUi}\n` : ''}`,
                  );
                return exitCodes.succeeded;
              }
              return await waitAndPrint(io, client, started.batchId, options.output, options.follow === true);
            });
          },
        ),
    ),
  );
  batch.addCommand(
    usageExitsTwo(
      new Command('status')
        .description('Print the progress of a batch.')
        .argument('<id>', 'batch id')
        .addOption(outputOption())
        .action(async (id: string, options: { output: BatchOutput }) => {
          process.exitCode = await withBatchClient(io, async (client) => {
            printProgress(io, options.output, await client.progress(id));
            return exitCodes.succeeded;
          });
        }),
    ),
  );
  batch.addCommand(
    usageExitsTwo(
      new Command('result')
        .description('Wait for a batch to end and print its summary.')
        .argument('<id>', 'batch id')
        .addOption(outputOption())
        .action(async (id: string, options: { output: BatchOutput }) => {
          process.exitCode = await withBatchClient(io, (client) =>
            waitAndPrint(io, client, id, options.output, false),
          );
        }),
    ),
  );
  batch.addCommand(
    usageExitsTwo(
      new Command('cancel')
        .description('Cancel a batch: its running evaluations are cancelled, nothing more starts.')
        .argument('<id>', 'batch id')
        .action(async (id: string) => {
          process.exitCode = await withBatchClient(io, async (client) => {
            await client.cancel(id);
            io.stdout.write(`cancel requested: batch ${id}\n`);
            return exitCodes.succeeded;
          });
        }),
    ),
  );
  return batch;
}
