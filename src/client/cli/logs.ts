/**
 * `assay logs ID [-f] [--attempt N] [--stream stdout|stderr|all]`: print an evaluation's logs (stdout to stdout,
 * stderr to stderr) — the stored log of the latest attempt, or with `-f` the live log while the pod runs and the
 * stored rest after it (see `src/client/follow.ts`).
 */
import { Command, Option } from 'commander';
import { followLogs, type FollowStreams } from '../follow.js';
import { createKubeClients, type KubeClients } from '../../kube/clients.js';
import {
  createS3ObjectStore,
  loadS3Config,
  orNullIfNotFound,
  type ObjectStore,
} from '../../storage/index.js';
import { evaluationRecordSchema, type AttemptRecord, type EvaluationRecord } from '../../spec/record.js';
import { storageKeys } from '../../spec/storage-keys.js';
import { exitCodes } from './exit-codes.js';
import { usageExitsTwo, withClient, type CliIo } from './evaluation-common.js';

async function copyObject(store: ObjectStore, key: string, out: CliIo['stdout']): Promise<boolean> {
  const stream = await orNullIfNotFound(store.get(key));
  if (stream === null) return false;
  for await (const chunk of stream) out.write(chunk as Buffer);
  return true;
}

/** Prints the stored logs of one attempt (default: every attempt), each under a header on stderr. */
export async function printStoredLogs(
  io: CliIo,
  record: Pick<EvaluationRecord, 'attempts'>,
  attempt: number | null,
  store: ObjectStore = createS3ObjectStore(loadS3Config()),
  streams: FollowStreams = 'all',
): Promise<number> {
  const chosen: AttemptRecord[] =
    attempt === null ? record.attempts : record.attempts.filter((a) => a.attempt === attempt);
  if (chosen.length === 0) {
    io.stderr.write(
      attempt === null ? 'assay: no attempt has started yet\n' : `assay: no attempt ${attempt}\n`,
    );
    return exitCodes.invalidInput;
  }
  for (const a of chosen) {
    if (record.attempts.length > 1) io.stderr.write(`==> attempt ${a.attempt} (${a.job}) <==\n`);
    if (a.logs === null) {
      io.stderr.write(
        `(attempt ${a.attempt} has no stored log${a.finishedAt === null ? ' yet: it is still running' : ''})\n`,
      );
      continue;
    }
    if (a.logs.split) {
      if (a.logs.stdout !== null && streams !== 'stderr') await copyObject(store, a.logs.stdout, io.stdout);
      if (a.logs.stderr !== null && streams !== 'stdout') await copyObject(store, a.logs.stderr, io.stderr);
    } else if (a.logs.combined !== null) {
      await copyObject(store, a.logs.combined, io.stdout);
    }
  }
  return exitCodes.succeeded;
}

/** Clients for reading a running pod's log: from `$KUBECONFIG`, or null when there is none (storage only). */
export function followKube(): KubeClients | null {
  try {
    return createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  } catch {
    return null;
  }
}

export function logsCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('logs')
      .description(
        "Print an evaluation's logs (stdout to stdout, stderr to stderr): the stored log of the latest attempt, or " +
          'with -f the live log as the pod prints it, then the stored rest.',
      )
      .argument('<id>', 'evaluation id')
      .option('--attempt <n>', 'this attempt instead of the latest')
      .option('-f, --follow', 'follow the log live until the evaluation ends')
      .addOption(
        new Option('--stream <stream>', 'which stream').choices(['stdout', 'stderr', 'all']).default('all'),
      )
      .action(async (id: string, options: { attempt?: string; follow?: boolean; stream: FollowStreams }) => {
        const attempt = options.attempt === undefined ? null : Number(options.attempt);
        if (attempt !== null && (!Number.isInteger(attempt) || attempt < 1)) {
          io.stderr.write('assay: --attempt must be a positive integer\n');
          process.exitCode = exitCodes.invalidInput;
          return;
        }
        const store = createS3ObjectStore(loadS3Config());
        if (options.follow === true) {
          process.exitCode = await withClient(io, async (client) => {
            await followLogs({
              status: () => client.status(id),
              store,
              kube: followKube(),
              stdout: io.stdout,
              stderr: io.stderr,
              streams: options.stream,
              ...(attempt !== null ? { fromAttempt: attempt } : {}),
              onAttempt: (n) => io.stderr.write(`==> attempt ${n} <==\n`),
            });
            return exitCodes.succeeded;
          });
          return;
        }
        // The stored record outlives Temporal's retention; while the evaluation runs, the workflow knows the keys.
        const stored = await orNullIfNotFound(store.getBytes(storageKeys.record(id)));
        const record: Pick<EvaluationRecord, 'attempts'> | null =
          stored === null ? null : evaluationRecordSchema.parse(JSON.parse(stored.toString('utf8')));
        const latest = (r: Pick<EvaluationRecord, 'attempts'>): number | null =>
          attempt ?? r.attempts[r.attempts.length - 1]?.attempt ?? null;
        if (record !== null) {
          process.exitCode = await printStoredLogs(io, record, latest(record), store, options.stream);
          return;
        }
        process.exitCode = await withClient(io, async (client) => {
          const status = await client.status(id);
          return printStoredLogs(io, status, latest(status), store, options.stream);
        });
      }),
  );
}
