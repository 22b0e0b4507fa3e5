/**
 * What the evaluation subcommands (`run`, `status`, `result`, `cancel`, `list`, `logs`) share: the connection from
 * the environment, output formats, the record and status renderings, error → exit code mapping, the spinner.
 */
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import Table from 'cli-table3';
import { Option, type Command } from 'commander';
import ora, { type Ora } from 'ora';
import { stringify } from 'yaml';
import { ZodError } from 'zod';
import {
  AssayClient,
  EvaluationConflictError,
  EvaluationNotFoundError,
  EvaluationWorkflowError,
  InvalidEvaluationIdError,
  InvalidEvaluationSpecError,
  webUiLink,
} from '../assay-client.js';
import type { EvaluationRecord, EvaluationStatus, PlacementSummary } from '../../spec/record.js';
import { exitCodeForRecord } from '../../spec/exit-codes.js';
import { formatSpecIssue } from '../../spec/issues.js';
import { createS3ObjectStore, loadS3Config, type ObjectStore } from '../../storage/index.js';
import { exitCodes } from './exit-codes.js';

export type OutputFormat = 'table' | 'json' | 'yaml';

export interface CliIo {
  readonly stdout: { write(chunk: string | Uint8Array): unknown; isTTY?: boolean };
  readonly stderr: { write(chunk: string | Uint8Array): unknown };
}

export function outputOption(): Option {
  return new Option('-o, --output <format>', 'output format')
    .choices(['table', 'json', 'yaml'])
    .default('table');
}

/** Commander's usage errors are invalid input: exit 2, not commander's 1. */
export function usageExitsTwo(command: Command): Command {
  return command.exitOverride((err) => {
    process.exit(err.exitCode === 0 ? 0 : exitCodes.invalidInput);
  });
}

/** Connects with `TEMPORAL_ADDRESS` / `TEMPORAL_NAMESPACE` / `ASSAY_TASK_QUEUE`. */
export async function connectFromEnv(): Promise<AssayClient> {
  return AssayClient.connect({
    ...(process.env.ASSAY_TASK_QUEUE ? { taskQueue: process.env.ASSAY_TASK_QUEUE } : {}),
  });
}

/** The Web UI link of an evaluation, when the UI's address is known (`ASSAY_TEMPORAL_UI`). */
export function uiLink(client: AssayClient, workflowId: string): string | null {
  const base = process.env.ASSAY_TEMPORAL_UI;
  return base ? webUiLink(base, client.namespace, workflowId) : null;
}

/** The trace UI's page of a trace when its address is known (`ASSAY_TRACES_UI`), else the trace id. */
export function traceLink(traceId: string, base: string | undefined): string {
  return base ? `${base.replace(/\/+$/, '')}/trace/${traceId}` : traceId;
}

export function printData(io: CliIo, format: 'json' | 'yaml', data: unknown): void {
  io.stdout.write(
    format === 'json' ? `${JSON.stringify(data, null, 2)}\n` : stringify(data, { lineWidth: 0 }),
  );
}

function kv(rows: [string, string][]): string {
  const table = new Table({ style: { head: [], border: [] } });
  for (const [k, v] of rows) table.push({ [k]: v });
  return `${table.toString()}\n`;
}

function attemptsTable(attempts: EvaluationRecord['attempts']): string {
  // The cluster column only when an attempt names its cluster (docs/multi-cluster.md, "Spill-over and failover").
  const clusters = attempts.some((a) => a.cluster !== undefined);
  const table = new Table({
    head: ['attempt', ...(clusters ? ['cluster'] : []), 'job', 'pod', 'kind', 'exit', 'reason', 'logs'],
    style: { head: [], border: [] },
  });
  for (const a of attempts) {
    const logs =
      a.logs === null
        ? '-'
        : a.logs.split
          ? `${a.logs.stdout ?? ''}\n${a.logs.stderr ?? ''}`
          : (a.logs.combined ?? '-');
    table.push([
      String(a.attempt),
      ...(clusters ? [a.cluster ?? '-'] : []),
      a.job,
      a.pod ?? '-',
      a.kind ?? '-',
      a.exitCode === null ? '-' : String(a.exitCode),
      a.reason ?? '-',
      logs,
    ]);
  }
  return `${table.toString()}\n`;
}

export function printRecord(
  io: CliIo,
  format: OutputFormat,
  record: EvaluationRecord,
  link: string | null,
): void {
  if (format !== 'table') return printData(io, format, record);
  io.stdout.write(
    kv([
      ['evaluation', record.evaluationId],
      ['outcome', `${record.outcome}${record.reason !== null ? ` (${record.reason})` : ''}`],
      ['exit code', record.exitCode === null ? '-' : String(record.exitCode)],
      ['message', record.message ?? '-'],
      ['team / user', `${record.team} / ${record.user}`],
      ['cluster', `${record.cluster ?? '-'} / ${record.namespace ?? '-'}`],
      ['submitted', record.timings.submittedAt],
      ['started', record.timings.startedAt ?? '-'],
      ['finished', record.timings.finishedAt ?? '-'],
      ['result', record.result === null ? '-' : JSON.stringify(record.result)],
      ['record', record.recordKey],
      ...(record.traceId != null
        ? ([['trace', traceLink(record.traceId, process.env.ASSAY_TRACES_UI)]] as [string, string][])
        : []),
      ...(link !== null ? ([['web ui', link]] as [string, string][]) : []),
    ]),
  );
  if (record.attempts.length > 0) io.stdout.write(attemptsTable(record.attempts));
}

export function printStatus(
  io: CliIo,
  format: OutputFormat,
  status: EvaluationStatus,
  link: string | null,
): void {
  if (format !== 'table') return printData(io, format, status);
  io.stdout.write(
    kv([
      ['evaluation', status.evaluationId],
      ['phase', status.phase],
      ...(status.queue != null
        ? ([['queue', `position ${status.queue.position}: ${status.queue.waitingFor}`]] as [string, string][])
        : []),
      ['outcome', status.outcome ?? '-'],
      ['attempt', `${status.attempt} of ${status.maxAttempts}`],
      ['cluster', `${status.cluster ?? '-'} / ${status.namespace ?? '-'}`],
      ...(status.placement != null ? placementRows(status.placement) : []),
      ['job', status.job ?? '-'],
      ['pod', status.pod ?? '-'],
      ['submitted', status.timings.submittedAt],
      ['started', status.timings.startedAt ?? '-'],
      ['next attempt', status.nextAttemptAt ?? '-'],
      ['record', status.recordKey],
      ...(status.traceId != null
        ? ([['trace', traceLink(status.traceId, process.env.ASSAY_TRACES_UI)]] as [string, string][])
        : []),
      ...(link !== null ? ([['web ui', link]] as [string, string][]) : []),
    ]),
  );
  if (status.attempts.length > 0) io.stdout.write(attemptsTable(status.attempts));
}

/**
 * Why the cluster was chosen, as `assay status` shows it: the reason, then each candidate's score with its terms and
 * each excluded cluster's reason (docs/multi-cluster.md, "Selection").
 */
export function placementRows(placement: PlacementSummary): [string, string][] {
  const terms = (t: Record<string, number>): string =>
    Object.entries(t)
      .map(([k, v]) => `${k} ${v.toFixed(2)}`)
      .join(', ');
  return [
    ['chosen because', placement.reason],
    ...placement.candidates.map((c, i): [string, string] => [
      i === 0 ? 'candidates' : '',
      `${c.name} ${c.score.toFixed(2)}${Object.keys(c.terms).length > 0 ? ` (${terms(c.terms)})` : ''}`,
    ]),
    ...placement.excluded.map((e, i): [string, string] => [
      i === 0 ? 'excluded' : '',
      `${e.name}: ${e.reason}${e.transient === true ? ' (for now)' : ''}`,
    ]),
  ];
}

/** The exit code of a finished evaluation. */
export function exitCodeOf(record: EvaluationRecord): number {
  return exitCodeForRecord(record);
}

/**
 * Prints a known error and returns its exit code; unknown errors are rethrown (the entry point prints them, exit 3).
 */
export function reportError(io: CliIo, err: unknown): number {
  if (err instanceof InvalidEvaluationSpecError) {
    for (const issue of err.issues) io.stderr.write(`${formatSpecIssue(issue)}\n`);
    return exitCodes.invalidInput;
  }
  if (err instanceof ZodError) {
    for (const issue of err.issues) io.stderr.write(`assay: ${issue.path.join('.')}: ${issue.message}\n`);
    return exitCodes.invalidInput;
  }
  if (
    err instanceof InvalidEvaluationIdError ||
    err instanceof EvaluationNotFoundError ||
    err instanceof EvaluationConflictError
  ) {
    io.stderr.write(`assay: ${err.message}\n`);
    return exitCodes.invalidInput;
  }
  if (err instanceof EvaluationWorkflowError) {
    io.stderr.write(`assay: ${err.message}\n`);
    return err.failureType === 'InvalidSpec' ? exitCodes.invalidInput : exitCodes.infrastructure;
  }
  throw err;
}

/** A spinner on a terminal; nothing otherwise (logs and pipes get no control characters). */
export function spinner(io: CliIo, text: string): { update(text: string): void; stop(): void } {
  if (io.stdout.isTTY !== true) return { update: () => undefined, stop: () => undefined };
  const s: Ora = ora({ text, stream: process.stdout }).start();
  return { update: (t) => (s.text = t), stop: () => s.stop() };
}

/** Runs `body` with a connected client and closes it afterwards; known errors become exit codes. */
export async function withClient(io: CliIo, body: (client: AssayClient) => Promise<number>): Promise<number> {
  const client = await connectFromEnv();
  try {
    return await body(client);
  } catch (err) {
    return reportError(io, err);
  } finally {
    await client.close();
  }
}

/**
 * Waits for the outcome, showing the phase on a terminal (or, with `follow`, one line per change on stderr).
 */
export async function waitForRecord(
  io: CliIo,
  client: AssayClient,
  evaluationId: string,
  follow: boolean,
): Promise<EvaluationRecord> {
  const spin = follow ? null : spinner(io, `evaluation ${evaluationId}: waiting`);
  let last = '';
  let done = false;
  // The once-a-second status polls are not traced: each would be a trace of its own (docs/observability.md).
  const watcher = context.with(suppressTracing(context.active()), async () => {
    while (!done) {
      try {
        const s = await client.status(evaluationId);
        const queued = s.queue != null ? ` · position ${s.queue.position}: ${s.queue.waitingFor}` : '';
        const line = `${s.phase}${queued}${s.attempt > 0 ? ` · attempt ${s.attempt}/${s.maxAttempts}` : ''}${
          s.pod !== null ? ` · pod ${s.pod}` : ''
        }${s.nextAttemptAt !== null ? ` · next attempt at ${s.nextAttemptAt}` : ''}`;
        if (line !== last) {
          last = line;
          if (follow) io.stderr.write(`${new Date().toISOString()} ${evaluationId} ${line}\n`);
          else spin?.update(`evaluation ${evaluationId}: ${line}`);
        }
      } catch {
        // The query needs a worker; a transient failure only delays the display.
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  });
  try {
    // Every command that prints the record prints the whole result, also one too large for history.
    return await withStoredResult(await client.result(evaluationId));
  } finally {
    done = true;
    spin?.stop();
    await watcher;
  }
}

/** The full result of a record whose result was too large to travel through history (read from its object). */
export async function withStoredResult(
  record: EvaluationRecord,
  store?: ObjectStore,
): Promise<EvaluationRecord> {
  const info = record.resultInfo;
  if (record.result !== null || info === null || info === undefined || info.inline) return record;
  const s = store ?? createS3ObjectStore(loadS3Config());
  const bytes = await s.getBytes(info.key);
  return { ...record, result: JSON.parse(bytes.toString('utf8')) as EvaluationRecord['result'] };
}
