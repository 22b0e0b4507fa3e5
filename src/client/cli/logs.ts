/**
 * `assay logs ID [--attempt N]`: print an evaluation's stored logs (stdout to stdout, stderr to stderr). Until the
 * streaming log pipeline exists, an attempt's log is stored once its main container has ended.
 */
import { Command } from 'commander';
import {
  createS3ObjectStore,
  loadS3Config,
  ObjectNotFoundError,
  type ObjectStore,
} from '../../storage/index.js';
import {
  evaluationRecordSchema,
  storageKeys,
  type AttemptRecord,
  type EvaluationRecord,
} from '../../spec/record.js';
import { exitCodes } from './exit-codes.js';
import { usageExitsTwo, withClient, type CliIo } from './evaluation-common.js';

async function copyObject(store: ObjectStore, key: string, out: CliIo['stdout']): Promise<boolean> {
  try {
    const stream = await store.get(key);
    for await (const chunk of stream) out.write(chunk as Buffer);
    return true;
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return false;
    throw err;
  }
}

/** Prints the stored logs of one attempt (default: every attempt), each under a header on stderr. */
export async function printStoredLogs(
  io: CliIo,
  record: Pick<EvaluationRecord, 'attempts'>,
  attempt: number | null,
  store: ObjectStore = createS3ObjectStore(loadS3Config()),
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
    if (record.attempts.length > 1 || attempt !== null)
      io.stderr.write(`==> attempt ${a.attempt} (${a.job}) <==\n`);
    if (a.logs === null) {
      io.stderr.write(
        `(attempt ${a.attempt} has no stored log${a.finishedAt === null ? ' yet: it is still running' : ''})\n`,
      );
      continue;
    }
    if (a.logs.split) {
      if (a.logs.stdout !== null) await copyObject(store, a.logs.stdout, io.stdout);
      if (a.logs.stderr !== null) await copyObject(store, a.logs.stderr, io.stderr);
    } else if (a.logs.combined !== null) {
      await copyObject(store, a.logs.combined, io.stdout);
    }
  }
  return exitCodes.succeeded;
}

export function logsCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('logs')
      .description("Print an evaluation's stored logs: stdout to stdout, stderr to stderr.")
      .argument('<id>', 'evaluation id')
      .option('--attempt <n>', 'only this attempt')
      .action(async (id: string, options: { attempt?: string }) => {
        const attempt = options.attempt === undefined ? null : Number(options.attempt);
        if (attempt !== null && (!Number.isInteger(attempt) || attempt < 1)) {
          io.stderr.write('assay: --attempt must be a positive integer\n');
          process.exitCode = exitCodes.invalidInput;
          return;
        }
        const store = createS3ObjectStore(loadS3Config());
        // The stored record outlives Temporal's retention; while the evaluation runs, the workflow knows the keys.
        let record: Pick<EvaluationRecord, 'attempts'> | null = null;
        try {
          record = evaluationRecordSchema.parse(
            JSON.parse((await store.getBytes(storageKeys.record(id))).toString('utf8')),
          );
        } catch (err) {
          if (!(err instanceof ObjectNotFoundError)) throw err;
        }
        if (record !== null) {
          process.exitCode = await printStoredLogs(io, record, attempt, store);
          return;
        }
        process.exitCode = await withClient(io, async (client) =>
          printStoredLogs(io, await client.status(id), attempt, store),
        );
      }),
  );
}
