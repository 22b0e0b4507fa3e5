/**
 * What the log-capture tests share: a Python script printing numbered lines, the check that every one of them was
 * stored exactly once and in order, and observations of a capture in progress (what the store holds, which try of
 * the capture activity runs) so tests wait for those instead of sleeping.
 */
import { expect } from '@jest/globals';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { EvaluationRecord } from '../../src/spec/record.js';
import { evaluationWorkflowId } from '../../src/spec/names.js';
import { storageKeys } from '../../src/spec/storage-keys.js';
import { collect } from '../../src/storage/object-store.js';
import type { S3ObjectStore } from '../../src/storage/index.js';

/**
 * A script printing `total` numbered lines alternating stdout/stderr, each padded to about 100 bytes; `perSecond`
 * paces it (0: as fast as it can). Writes go straight to the file descriptors, one line per write.
 */
export function numberedLines(total: number, perSecond = 0): string {
  return [
    'import os, time',
    `total, rate = ${total}, ${perSecond}`,
    'pad = b"x" * 84',
    't0 = time.time()',
    'for i in range(total):',
    '    fd = 1 if i % 2 == 0 else 2',
    '    os.write(fd, b"%s %07d %s\\n" % (b"out" if fd == 1 else b"err", i, pad))',
    '    if rate and i % 1000 == 999:',
    '        ahead = (i + 1) / rate - (time.time() - t0)',
    '        if ahead > 0: time.sleep(ahead)',
  ].join('\n');
}

/**
 * A Python script that prints `loading` on stdout, then dies of a chained exception: a traceback whose `raise … from`
 * joins two, which log grouping must keep as one event on stderr.
 */
export const chainedTracebackScript = [
  'print("loading", flush=True)',
  'def load():',
  '    return {}["model"]',
  'try:',
  '    load()',
  'except KeyError as e:',
  '    raise RuntimeError("cannot load the model") from e',
].join('\n');

async function text(store: S3ObjectStore, key: string | null | undefined): Promise<string> {
  if (key === null || key === undefined) throw new Error('no key');
  return (await store.getBytes(key)).toString('utf8');
}

/** Expects every line of {@link numberedLines}`(total)` stored exactly once and in order, per stream. */
export async function expectAllLines(
  store: S3ObjectStore,
  record: EvaluationRecord,
  total: number,
): Promise<void> {
  const logs = record.attempts[0]?.logs;
  expect(logs?.split).toBe(true);
  const pad = 'x'.repeat(84);
  for (const [stream, parity, prefix] of [
    [logs!.stdout, 0, 'out'],
    [logs!.stderr, 1, 'err'],
  ] as const) {
    const lines = (await text(store, stream)).split('\n');
    expect(lines.pop()).toBe('');
    const expected = Math.ceil((total - parity) / 2);
    const wrong: string[] = [];
    for (let k = 0; k < Math.max(lines.length, expected); k++) {
      const want = `${prefix} ${String(2 * k + parity).padStart(7, '0')} ${pad}`;
      if (lines[k] !== want && wrong.length < 5) wrong.push(`line ${k}: ${lines[k]?.slice(0, 20)}`);
    }
    expect({ stream: prefix, count: lines.length, wrong }).toEqual({
      stream: prefix,
      count: expected,
      wrong: [],
    });
  }
  const events = (await text(store, logs!.events)).split('\n').filter((l) => l !== '');
  expect(events).toHaveLength(total);
  expect(logs!.lines).toBe(total);
}

/**
 * Parts the store holds in the unfinished uploads of attempt 1's logs (stdout, stderr, events): more than zero means
 * the capture runs and has stored something; the number grows as it goes on.
 */
export async function storedLogParts(store: S3ObjectStore, evaluationId: string): Promise<number> {
  const prefix = storageKeys.attemptPrefix(evaluationId, 1);
  let parts = 0;
  for (const upload of await collect(store.listMultipartUploads(prefix))) {
    parts += (await store.listParts(upload.key, upload.uploadId)).length;
  }
  return parts;
}

/** The pending try of the log-capture activity of `evaluationId`: its attempt number and whether a worker runs it. */
export async function pendingCapture(
  temporalClient: Client,
  evaluationId: string,
): Promise<{ attempt: number; started: boolean } | undefined> {
  const description = await temporalClient.workflow.getHandle(evaluationWorkflowId(evaluationId)).describe();
  const capture = (description.raw.pendingActivities ?? []).find(
    (a) => a.activityType?.name === 'storeAttemptLogs',
  );
  if (!capture) return undefined;
  const started = temporal.api.enums.v1.PendingActivityState.PENDING_ACTIVITY_STATE_STARTED;
  return { attempt: capture.attempt ?? 0, started: capture.state === started };
}
