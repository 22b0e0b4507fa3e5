/**
 * `assay clusters [-o table|json|yaml]`: every registry cluster as the cluster monitor of the task queue last saw it —
 * health and why, cordon, free/total capacity, evaluation pods running and queued, its worker's pollers, when its
 * API server was last reached (docs/multi-cluster.md, "assay clusters").
 */
import Table from 'cli-table3';
import { Command } from 'commander';
import type { ClusterHealth } from '../../placement/types.js';
import { ClusterMonitorNotRunningError, queryClusterView } from '../../placement/view-source.js';
import type { ClusterViewAnswer } from '../../placement/view.js';
import { formatMillicores } from '../../spec/quantity.js';
import { exitCodes } from './exit-codes.js';
import {
  outputOption,
  printData,
  usageExitsTwo,
  withClient,
  type CliIo,
  type OutputFormat,
} from './evaluation-common.js';

/** Memory the way people read it: `15.6Gi`, `512Mi`, `0`. */
export function memoryText(bytes: number): string {
  const units = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  const digits = value >= 100 || Number.isInteger(value) ? 0 : 1;
  return `${value.toFixed(digits)}${units[unit]}`;
}

/** `3s ago`, `4m ago`, `2h ago`; `never` for null. */
export function agoText(iso: string | null, now: number): string {
  if (iso === null) return 'never';
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  return s < 120 ? `${s}s ago` : s < 7200 ? `${Math.round(s / 60)}m ago` : `${Math.round(s / 3600)}h ago`;
}

/** The table `assay clusters` prints: one row per cluster, by name. */
export function clustersTable(clusters: readonly ClusterHealth[], now: number = Date.now()): string {
  const table = new Table({
    head: [
      'name',
      'healthy',
      'cordoned',
      'cpu free/total',
      'memory free/total',
      'gpus free/total',
      'running',
      'queued',
      'pollers',
      'last seen',
      'reason',
    ],
    style: { head: [], border: [] },
  });
  for (const c of clusters) {
    const gpus = Object.entries(c.capacity.gpus)
      .map(([type, g]) => `${type} ${g.free}/${g.total}`)
      .join(', ');
    table.push([
      c.name,
      c.healthy ? 'yes' : 'no',
      c.cordoned ? 'yes' : 'no',
      `${formatMillicores(c.capacity.cpuMillis.free)}/${formatMillicores(c.capacity.cpuMillis.total)}`,
      `${memoryText(c.capacity.memoryBytes.free)}/${memoryText(c.capacity.memoryBytes.total)}`,
      gpus === '' ? '-' : gpus,
      String(c.running),
      String(c.queued),
      c.workerPollers === null ? '-' : String(c.workerPollers),
      agoText(c.lastSeen, now),
      c.reason ?? '-',
    ]);
  }
  return table.toString();
}

export function clustersCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('clusters')
      .description("Show every cluster's health and capacity as the cluster monitor last probed it.")
      .addOption(outputOption())
      .action(async (options: { output: OutputFormat }) => {
        process.exitCode = await withClient(io, async (client) => {
          let answer: ClusterViewAnswer;
          try {
            answer = await queryClusterView(client.temporal, client.taskQueue, { requireRunning: true });
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            io.stderr.write(
              err instanceof ClusterMonitorNotRunningError
                ? `assay: ${message}\n`
                : `assay: the cluster monitor of task queue ${client.taskQueue} did not answer (${message}): ` +
                    'is a worker serving that queue running?\n',
            );
            return exitCodes.infrastructure;
          }
          const clusters = Object.values(answer.view).sort((a, b) => a.name.localeCompare(b.name));
          if (options.output !== 'table') {
            printData(io, options.output, clusters);
            return exitCodes.succeeded;
          }
          if (clusters.length === 0) {
            io.stdout.write(
              `no probe has finished yet${answer.lastError !== null ? ` (${answer.lastError})` : ''}\n`,
            );
            return exitCodes.succeeded;
          }
          io.stdout.write(`${clustersTable(clusters)}\n`);
          if (answer.lastError !== null) {
            io.stderr.write(
              `assay: the last probe round failed (${answer.lastError}); this is the view before it\n`,
            );
          }
          return exitCodes.succeeded;
        });
      }),
  );
}
