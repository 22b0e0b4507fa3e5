/**
 * `assay quota [--team T] [-o table|json|yaml] [--watch]`: per team, the limits, what is in use, what is queued, and
 * each queued evaluation's position and what it waits for (docs/quota.md). `--watch` redraws it in place.
 */
import Table from 'cli-table3';
import { Command, Option } from 'commander';
import { formatBytes, formatMillicores } from '../../spec/quantity.js';
import type { QuotaSnapshot } from '../../spec/quota.js';
import { exitCodes } from './exit-codes.js';
import { printData, usageExitsTwo, withClient, type CliIo, type OutputFormat } from './evaluation-common.js';

interface QuotaOptions {
  team?: string;
  output: OutputFormat;
  watch?: boolean;
  interval: string;
}

function gpuText(gpu: Record<string, number> | undefined): string | null {
  if (gpu === undefined || Object.keys(gpu).length === 0) return null;
  return Object.entries(gpu)
    .map(([type, n]) => `${type}=${n}`)
    .join(',');
}

/** `maxRunning 5 · cpu 8 · memory 32Gi · gpu a100=2`; `none` when nothing is limited. */
export function limitsText(limits: Omit<QuotaSnapshot['policy'], 'users'>): string {
  const parts = [
    limits.maxRunning !== undefined ? `maxRunning ${limits.maxRunning}` : null,
    limits.cpu !== undefined ? `cpu ${formatMillicores(limits.cpu)}` : null,
    limits.memory !== undefined ? `memory ${formatBytes(limits.memory, true)}` : null,
    gpuText(limits.gpu) !== null ? `gpu ${gpuText(limits.gpu)}` : null,
  ].filter((p): p is string => p !== null);
  return parts.length > 0 ? parts.join(' · ') : 'none';
}

function ago(ms: number, now: number): string {
  const s = Math.max(0, Math.round((now - ms) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

/** The table rendering of the snapshots. */
export function renderQuota(snapshots: readonly QuotaSnapshot[], now: number = Date.now()): string {
  if (snapshots.length === 0) return 'no team quota in use (teams without a quota are not queued)\n';
  const out: string[] = [];
  for (const s of snapshots) {
    const use = s.inUse;
    out.push(
      `team ${s.team}`,
      `  limits:  ${limitsText(s.policy)}`,
      `  in use:  ${use.running} running · cpu ${formatMillicores(use.cpu)} · memory ${formatBytes(use.memory, true)}${
        gpuText(use.gpu) !== null ? ` · gpu ${gpuText(use.gpu)}` : ''
      }`,
      `  queued:  ${s.queue.length} · admitted so far: ${s.admissions}`,
    );
    const users = Object.entries(s.policy.users);
    if (users.length > 0)
      out.push(`  user caps: ${users.map(([u, l]) => `${u}: ${limitsText(l)}`).join('; ')}`);
    if (s.queue.length > 0) {
      const table = new Table({
        head: ['pos', 'evaluation', 'user', 'priority', 'waited', 'why'],
        style: { head: [], border: [] },
      });
      for (const e of s.queue)
        table.push([
          String(e.position),
          e.evaluationId,
          e.user,
          e.priority,
          ago(e.queuedAt, now),
          e.waitingFor,
        ]);
      out.push(table.toString());
    }
    out.push('');
  }
  return `${out.join('\n')}\n`;
}

export function quotaCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('quota')
      .description('Show each team quota: limits, in use, queued, and why each queued evaluation waits.')
      .option('--team <team>', 'only this team')
      .addOption(
        new Option('-o, --output <format>', 'output format')
          .choices(['table', 'json', 'yaml'])
          .default('table'),
      )
      .option('--watch', 'refresh in place until interrupted')
      .option('--interval <seconds>', 'refresh interval with --watch', '2')
      .action(async (options: QuotaOptions) => {
        const interval = Number(options.interval);
        if (!Number.isFinite(interval) || interval <= 0) {
          io.stderr.write('assay: --interval must be a positive number of seconds\n');
          process.exitCode = exitCodes.invalidInput;
          return;
        }
        if (options.team !== undefined && !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(options.team)) {
          io.stderr.write(`assay: --team: ${JSON.stringify(options.team)} must be a DNS label\n`);
          process.exitCode = exitCodes.invalidInput;
          return;
        }
        process.exitCode = await withClient(io, async (client) => {
          const show = async (): Promise<void> => {
            const snapshots = await client.quota(options.team);
            if (options.output !== 'table') printData(io, options.output, snapshots);
            else io.stdout.write(renderQuota(snapshots));
          };
          if (options.watch !== true) {
            await show();
            return exitCodes.succeeded;
          }
          const stop = new AbortController();
          const onSignal = (): void => stop.abort();
          process.once('SIGINT', onSignal);
          try {
            while (!stop.signal.aborted) {
              // In place on a terminal: home the cursor and clear, then draw.
              if (io.stdout.isTTY === true) io.stdout.write('\x1b[H\x1b[2J');
              else io.stdout.write(`--- ${new Date().toISOString()}\n`);
              await show();
              await new Promise<void>((resolve) => {
                const timer = setTimeout(resolve, interval * 1000);
                stop.signal.addEventListener('abort', () => {
                  clearTimeout(timer);
                  resolve();
                });
              });
            }
          } finally {
            process.off('SIGINT', onSignal);
          }
          return exitCodes.succeeded;
        });
      }),
  );
}
