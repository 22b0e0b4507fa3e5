/**
 * `assay notifications ID`: every webhook endpoint of an evaluation and each event's delivery — every try with its
 * time, HTTP status (or error) and latency — and the dead letters (events given up on).
 */
import Table from 'cli-table3';
import { Command } from 'commander';
import { evaluationIdSchema } from '../../spec/names.js';
import { createS3ObjectStore, loadS3Config } from '../../storage/index.js';
import { readDeliveries, type EndpointDeliveries } from '../notifications.js';
import {
  outputOption,
  printData,
  usageExitsTwo,
  withClient,
  type CliIo,
  type OutputFormat,
} from './evaluation-common.js';
import { exitCodes } from './exit-codes.js';

function tryText(t: { outcome: string; status: number | null; error: string | null }): string {
  if (t.status !== null) return `${t.status} ${t.outcome}`;
  return `${t.outcome}${t.error !== null ? `: ${t.error}` : ''}`;
}

/** The table rendering: one block per endpoint, one row per try. */
export function renderDeliveries(list: EndpointDeliveries[]): string {
  if (list.length === 0) return 'the evaluation has no webhooks\n';
  let out = '';
  let deadLetters = 0;
  for (const { endpoint, log } of list) {
    const flags = [
      log?.disabled ? 'disabled (410 Gone)' : null,
      log?.finished === false ? 'delivering' : null,
    ];
    const suffix = flags.filter((f) => f !== null).join(', ');
    out += `webhook ${endpoint.index}: ${endpoint.url}  [${endpoint.events.join(', ')}]${suffix ? `  — ${suffix}` : ''}\n`;
    if (log === null || log.events.length === 0) {
      out += '  no event sent yet\n';
      continue;
    }
    const table = new Table({
      head: ['event', 'state', 'try', 'at', 'result', 'latency'],
      style: { head: [], border: [] },
    });
    for (const e of log.events) {
      if (e.state === 'deadLetter') deadLetters++;
      if (e.attempts.length === 0) table.push([e.type, e.state, '-', '-', e.reason ?? '-', '-']);
      e.attempts.forEach((t, i) => {
        table.push([
          i === 0 ? e.type : '',
          i === 0 ? e.state : '',
          String(t.attempt),
          t.at,
          tryText(t),
          t.latencyMs === null ? '-' : `${Math.round(t.latencyMs)} ms`,
        ]);
      });
    }
    out += `${table.toString()}\n`;
    for (const e of log.events.filter((x) => x.state === 'deadLetter' || x.state === 'skipped')) {
      out += `  ${e.state === 'deadLetter' ? 'dead letter' : 'skipped'}: ${e.type} (${e.id}): ${e.reason ?? ''}\n`;
    }
  }
  out += `${deadLetters} dead letter${deadLetters === 1 ? '' : 's'}\n`;
  return out;
}

export function notificationsCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('notifications')
      .description(
        "Show an evaluation's webhook deliveries: each try's status, time and latency; dead letters.",
      )
      .argument('<id>', 'evaluation id')
      .addOption(outputOption())
      .action(async (id: string, options: { output: OutputFormat }) => {
        if (!evaluationIdSchema.safeParse(id).success) {
          io.stderr.write(`assay: invalid evaluation id ${JSON.stringify(id)}\n`);
          process.exitCode = exitCodes.invalidInput;
          return;
        }
        process.exitCode = await withClient(io, async (client) => {
          const list = await readDeliveries(client.temporal, createS3ObjectStore(loadS3Config()), id);
          if (options.output === 'table') io.stdout.write(renderDeliveries(list));
          else
            printData(
              io,
              options.output,
              list.map(({ endpoint, log }) => ({ ...endpoint, deliveries: log })),
            );
          return exitCodes.succeeded;
        });
      }),
  );
}
