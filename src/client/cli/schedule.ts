/**
 * `assay schedule create NAME -f FILE --cron '0 2 * * *' [--timezone TZ] [--overlap skip|buffer-one|allow-all|
 * cancel-other] [--catchup-window 10m] [--pause-on-failure] [--only-if-previous-succeeded] [--update]`, and
 * `list | describe | pause | unpause | trigger | backfill --from --to | delete` (docs/schedules.md). Bad input
 * (name, cron, manifest, an existing name without --update) exits 2.
 */
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { formatSpecIssue } from '../../spec/issues.js';
import { InvalidEvaluationSpecError } from '../../spec/evaluation-job.js';
import {
  AssayScheduleNotFoundError,
  InvalidScheduleError,
  ScheduleClient,
  ScheduleExistsError,
  overlapPolicies,
  type OverlapName,
} from '../schedule-client.js';
import { connectFromEnv, printData, usageExitsTwo, type CliIo } from './evaluation-common.js';
import { exitCodes } from './exit-codes.js';
import { ManifestFileError, parseManifestText, readManifestText } from './manifest-file.js';

async function withScheduleClient(
  io: CliIo,
  body: (client: ScheduleClient) => Promise<number>,
): Promise<number> {
  let assay;
  try {
    assay = await connectFromEnv();
  } catch (err) {
    io.stderr.write(`assay: ${err instanceof Error ? err.message : String(err)}\n`);
    return exitCodes.infrastructure;
  }
  try {
    return await body(new ScheduleClient(assay.temporal, assay.taskQueue));
  } catch (err) {
    if (err instanceof InvalidEvaluationSpecError) {
      for (const issue of err.issues) io.stderr.write(`${formatSpecIssue(issue)}\n`);
      return exitCodes.invalidInput;
    }
    if (
      err instanceof InvalidScheduleError ||
      err instanceof ScheduleExistsError ||
      err instanceof AssayScheduleNotFoundError ||
      err instanceof ManifestFileError
    ) {
      io.stderr.write(`assay: ${err.message}\n`);
      return exitCodes.invalidInput;
    }
    throw err;
  } finally {
    await assay.close();
  }
}

const instant = z.iso.datetime({ offset: true }).transform((s) => new Date(s));

function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table');
}

function simple(
  io: CliIo,
  name: string,
  description: string,
  act: (client: ScheduleClient, id: string) => Promise<string>,
): Command {
  return usageExitsTwo(
    new Command(name)
      .description(description)
      .argument('<name>', 'schedule name')
      .action(async (id: string) => {
        process.exitCode = await withScheduleClient(io, async (client) => {
          io.stdout.write(`${await act(client, id)}\n`);
          return exitCodes.succeeded;
        });
      }),
  );
}

export function scheduleCommand(io: CliIo = process): Command {
  const schedule = new Command('schedule').description(
    'Run a batch or an evaluation on a calendar (Temporal Schedules).',
  );
  schedule.addCommand(
    usageExitsTwo(
      new Command('create')
        .description('Create a schedule (assay-schedule-NAME) that starts the manifest on every cron slot.')
        .argument('<name>', 'schedule name (lowercase letters, digits, "-")')
        .requiredOption('-f, --file <file>', 'EvaluationBatch or EvaluationJob manifest')
        .requiredOption('--cron <expression>', "cron expression, e.g. '0 2 * * *'")
        .option('--timezone <tz>', 'IANA time zone of the cron expression (default UTC)')
        .addOption(
          new Option('--overlap <policy>', 'when a slot comes while the previous run still runs')
            .choices(Object.keys(overlapPolicies))
            .default('skip'),
        )
        .option('--catchup-window <duration>', 'how late a missed slot may still run (e.g. 10m)')
        .option('--pause-on-failure', 'pause the schedule when a run fails')
        .option('--only-if-previous-succeeded', 'skip a slot unless the previous run succeeded')
        .option('--update', 'replace the schedule if it exists')
        .action(
          async (
            name: string,
            options: {
              file: string;
              cron: string;
              timezone?: string;
              overlap: OverlapName;
              catchupWindow?: string;
              pauseOnFailure?: boolean;
              onlyIfPreviousSucceeded?: boolean;
              update?: boolean;
            },
          ) => {
            process.exitCode = await withScheduleClient(io, async (client) => {
              const manifest = parseManifestText(await readManifestText(options.file), options.file);
              const created = await client.create(name, manifest, {
                cron: options.cron,
                overlap: options.overlap,
                pauseOnFailure: options.pauseOnFailure === true,
                onlyIfPreviousSucceeded: options.onlyIfPreviousSucceeded === true,
                update: options.update === true,
                ...(options.timezone !== undefined ? { timezone: options.timezone } : {}),
                ...(options.catchupWindow !== undefined ? { catchupWindow: options.catchupWindow } : {}),
              });
              io.stdout.write(
                `${created.updated ? 'updated' : 'created'}: schedule ${name} (${created.scheduleId})\n`,
              );
              return exitCodes.succeeded;
            });
          },
        ),
    ),
  );
  schedule.addCommand(
    usageExitsTwo(
      new Command('list')
        .description("List Assay's schedules.")
        .addOption(outputOption())
        .action(async (options: { output: 'table' | 'json' }) => {
          process.exitCode = await withScheduleClient(io, async (client) => {
            const list = await client.list();
            if (options.output === 'json') printData(io, 'json', list);
            else {
              const table = new Table({
                head: ['name', 'paused', 'next run', 'note'],
                style: { head: [], border: [] },
              });
              for (const s of list)
                table.push([s.name, String(s.paused), s.nextRun?.toISOString() ?? '-', s.note ?? '']);
              io.stdout.write(`${table.toString()}\n`);
            }
            return exitCodes.succeeded;
          });
        }),
    ),
  );
  schedule.addCommand(
    usageExitsTwo(
      new Command('describe')
        .description('Show a schedule, its next runs and its recent runs with their outcomes.')
        .argument('<name>', 'schedule name')
        .addOption(outputOption())
        .action(async (name: string, options: { output: 'table' | 'json' }) => {
          process.exitCode = await withScheduleClient(io, async (client) => {
            const d = await client.describe(name);
            if (options.output === 'json') {
              printData(io, 'json', d);
              return exitCodes.succeeded;
            }
            io.stdout.write(
              `schedule ${d.name} (${d.scheduleId}): cron ${d.cron ?? '?'}${d.timezone ? ` ${d.timezone}` : ''}, ` +
                `overlap ${d.overlap}${d.paused ? `, PAUSED${d.note ? ` (${d.note})` : ''}` : ''}\n` +
                `next runs: ${d.nextRuns.map((t) => t.toISOString()).join(', ') || '-'}\n`,
            );
            const table = new Table({
              head: ['scheduled', 'started', 'id', 'status', 'outcome'],
              style: { head: [], border: [] },
            });
            for (const r of d.recentRuns) {
              table.push([
                r.scheduledAt.toISOString(),
                r.takenAt.toISOString(),
                r.result?.id ?? r.workflowId,
                r.status,
                r.result === null ? '-' : (r.result.outcome ?? `skipped: ${r.result.skipped ?? ''}`),
              ]);
            }
            io.stdout.write(`${table.toString()}\n`);
            return exitCodes.succeeded;
          });
        }),
    ),
  );
  schedule.addCommand(
    simple(io, 'pause', 'Pause a schedule.', async (c, n) => {
      await c.pause(n);
      return `paused: schedule ${n}`;
    }),
  );
  schedule.addCommand(
    simple(io, 'unpause', 'Unpause a schedule.', async (c, n) => {
      await c.unpause(n);
      return `unpaused: schedule ${n}`;
    }),
  );
  schedule.addCommand(
    simple(io, 'trigger', 'Run a schedule now.', async (c, n) => {
      await c.trigger(n);
      return `triggered: schedule ${n}`;
    }),
  );
  schedule.addCommand(
    simple(io, 'delete', 'Delete a schedule (its runs are kept).', async (c, n) => {
      await c.delete(n);
      return `deleted: schedule ${n}`;
    }),
  );
  schedule.addCommand(
    usageExitsTwo(
      new Command('backfill')
        .description('Run every slot of a time range now; slots that ran before start nothing new.')
        .argument('<name>', 'schedule name')
        .requiredOption('--from <time>', 'start of the range (ISO 8601, e.g. 2026-11-30T00:00:00Z)')
        .requiredOption('--to <time>', 'end of the range (ISO 8601)')
        .action(async (name: string, options: { from: string; to: string }) => {
          process.exitCode = await withScheduleClient(io, async (client) => {
            const from = instant.safeParse(options.from);
            const to = instant.safeParse(options.to);
            if (!from.success || !to.success) {
              throw new InvalidScheduleError(
                from.success ? '--to' : '--from',
                'must be an ISO 8601 time with a zone, e.g. 2026-11-30T02:00:00Z',
              );
            }
            await client.backfill(name, from.data, to.data);
            io.stdout.write(
              `backfill requested: schedule ${name} from ${from.data.toISOString()} to ${to.data.toISOString()}\n`,
            );
            return exitCodes.succeeded;
          });
        }),
    ),
  );
  return schedule;
}
