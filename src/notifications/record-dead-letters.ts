/**
 * Dead letters in the evaluation record (docs/notifications.md, "Dead letters"). A delivery outlives its evaluation,
 * so an event may become a dead letter before the record exists or long after it was written. Both writers add what
 * they know, with conditional writes so neither loses the other's:
 *
 * - the record activity, when it writes the record, takes the dead letters of every delivery log stored so far, and
 *   looks again after writing (a log stored in between is then seen here or by its delivery, never by neither);
 * - a delivery workflow, after storing a log with a new dead letter, adds it to the record if the record exists
 *   (if not, the record activity has not listed the logs yet, and will).
 *
 * Entries are keyed by endpoint and message id, so adding one twice changes nothing.
 */
import { z } from 'zod';
import type { ObjectStore } from '../storage/object-store.js';
import { ObjectNotFoundError, PreconditionFailedError } from '../storage/errors.js';
import type { RecordDeadLetter } from '../spec/record.js';
import { storageKeys } from '../spec/storage-keys.js';
import { deliveryLogPrefix, deliveryLogSchema, type DeliveryLog } from './payload.js';

/** The dead letters of one endpoint's delivery log. */
export function deadLettersOf(log: DeliveryLog): RecordDeadLetter[] {
  return log.events
    .filter((e) => e.state === 'deadLetter')
    .map((e) => ({
      webhook: log.index,
      url: log.url,
      event: e.type,
      messageId: e.id,
      reason: e.reason,
      at: e.attempts[e.attempts.length - 1]?.at ?? null,
    }));
}

/** `a` and `b` together, once each, in endpoint then event order. */
export function mergeDeadLetters(
  a: readonly RecordDeadLetter[],
  b: readonly RecordDeadLetter[],
): RecordDeadLetter[] {
  const byKey = new Map<string, RecordDeadLetter>();
  for (const letter of [...a, ...b]) byKey.set(`${letter.webhook}\u0000${letter.messageId}`, letter);
  return [...byKey.values()].sort(
    (x, y) =>
      x.webhook - y.webhook ||
      (x.at ?? '').localeCompare(y.at ?? '') ||
      x.messageId.localeCompare(y.messageId),
  );
}

/** The dead letters of every delivery log of the evaluation stored so far; an unreadable log is skipped. */
export async function storedDeadLetters(
  store: ObjectStore,
  evaluationId: string,
): Promise<RecordDeadLetter[]> {
  let letters: RecordDeadLetter[] = [];
  for await (const object of store.list(deliveryLogPrefix(evaluationId))) {
    if (!object.key.endsWith('.json')) continue;
    try {
      const log = deliveryLogSchema.parse(JSON.parse((await store.getBytes(object.key)).toString('utf8')));
      letters = mergeDeadLetters(letters, deadLettersOf(log));
    } catch (err) {
      if (err instanceof ObjectNotFoundError || err instanceof SyntaxError || err instanceof z.ZodError)
        continue;
      throw err;
    }
  }
  return letters;
}

const recordShape = z.looseObject({
  notifications: z.object({ deadLetters: z.array(z.any()) }).optional(),
});

/** How many times a conditional write is tried before giving up (each loss means another writer just wrote). */
const maxTries = 10;

/**
 * Writes the record object `record` (a JSON record) with the dead letters of the stored one and `letters` merged in:
 * created if absent, else replaced only if unchanged since read (retried when another writer came in between).
 * Returns the dead letters the stored record now holds and the size of what was written.
 */
export async function writeRecordMergingDeadLetters(
  store: ObjectStore,
  key: string,
  record: Record<string, unknown>,
  letters: readonly RecordDeadLetter[],
): Promise<{ deadLetters: RecordDeadLetter[]; bytes: number }> {
  // Never null: a record of its own is given.
  return (await mergeIntoRecord(store, key, letters, record))!;
}

/**
 * Adds `letters` to the stored record of `evaluationId`. Returns false when there is no record yet (its writer will
 * take them from the delivery logs), true once they are in it.
 */
export async function addDeadLettersToRecord(
  store: ObjectStore,
  evaluationId: string,
  letters: readonly RecordDeadLetter[],
): Promise<boolean> {
  return (await mergeIntoRecord(store, storageKeys.record(evaluationId), letters, null)) !== null;
}

/**
 * The one read-merge-write loop of both writers: `record` is the body to write (the record activity), or null to
 * keep the stored one's (a delivery: nothing is written when there is no record, or when it holds `letters`
 * already). Null when there was no record to add to.
 */
async function mergeIntoRecord(
  store: ObjectStore,
  key: string,
  letters: readonly RecordDeadLetter[],
  record: Record<string, unknown> | null,
): Promise<{ deadLetters: RecordDeadLetter[]; bytes: number } | null> {
  for (let i = 0; ; i++) {
    const current = await readRecord(store, key);
    const base = record ?? current?.record;
    if (base === undefined) return null;
    const deadLetters = mergeDeadLetters(current?.deadLetters ?? [], letters);
    if (record === null && deadLetters.length === current!.deadLetters.length) {
      return { deadLetters, bytes: current!.bytes };
    }
    const body = `${JSON.stringify({ ...base, ...(deadLetters.length > 0 ? { notifications: { deadLetters } } : {}) }, null, 2)}\n`;
    try {
      await store.put(key, body, {
        contentType: 'application/json',
        condition: current === null ? { ifNoneMatch: '*' } : { ifMatch: current.etag },
      });
      return { deadLetters, bytes: Buffer.byteLength(body) };
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || i + 1 >= maxTries) throw err;
    }
  }
}

async function readRecord(
  store: ObjectStore,
  key: string,
): Promise<{
  etag: string;
  record: Record<string, unknown>;
  deadLetters: RecordDeadLetter[];
  bytes: number;
} | null> {
  let etag: string | undefined;
  let bytes: Buffer;
  try {
    etag = (await store.head(key)).etag;
    bytes = await store.getBytes(key);
  } catch (err) {
    if (err instanceof ObjectNotFoundError) return null;
    throw err;
  }
  if (etag === undefined)
    throw new Error(`the store gave no ETag for ${key}: records cannot be merged safely`);
  const record = recordShape.parse(JSON.parse(bytes.toString('utf8')));
  return {
    etag,
    record,
    deadLetters: (record.notifications?.deadLetters ?? []) as RecordDeadLetter[],
    bytes: bytes.length,
  };
}
