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
import { deliveryLogKey, deliveryLogSchema, type DeliveryLog } from './payload.js';

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
  const prefix = deliveryLogKey(evaluationId, 0).replace(/0\.json$/, '');
  let letters: RecordDeadLetter[] = [];
  for await (const object of store.list(prefix)) {
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
 * Writes the record object `body` (a JSON record) with the dead letters of the stored one and `letters` merged in:
 * created if absent, else replaced only if unchanged since read (retried when another writer came in between).
 * Returns the dead letters the stored record now holds.
 */
export async function writeRecordMergingDeadLetters(
  store: ObjectStore,
  key: string,
  record: Record<string, unknown>,
  letters: readonly RecordDeadLetter[],
): Promise<RecordDeadLetter[]> {
  for (let i = 0; ; i++) {
    const current = await readRecord(store, key);
    const merged = mergeDeadLetters(current?.deadLetters ?? [], letters);
    const body = { ...record, ...(merged.length > 0 ? { notifications: { deadLetters: merged } } : {}) };
    try {
      await store.put(key, `${JSON.stringify(body, null, 2)}\n`, {
        contentType: 'application/json',
        condition: current === null ? { ifNoneMatch: '*' } : { ifMatch: current.etag },
      });
      return merged;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || i + 1 >= maxTries) throw err;
    }
  }
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
  const key = storageKeys.record(evaluationId);
  for (let i = 0; ; i++) {
    const current = await readRecord(store, key);
    if (current === null) return false;
    const merged = mergeDeadLetters(current.deadLetters, letters);
    if (merged.length === current.deadLetters.length) return true;
    const body = { ...current.record, notifications: { deadLetters: merged } };
    try {
      await store.put(key, `${JSON.stringify(body, null, 2)}\n`, {
        contentType: 'application/json',
        condition: { ifMatch: current.etag },
      });
      return true;
    } catch (err) {
      if (!(err instanceof PreconditionFailedError) || i + 1 >= maxTries) throw err;
    }
  }
}

async function readRecord(
  store: ObjectStore,
  key: string,
): Promise<{ etag: string; record: Record<string, unknown>; deadLetters: RecordDeadLetter[] } | null> {
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
  return { etag, record, deadLetters: (record.notifications?.deadLetters ?? []) as RecordDeadLetter[] };
}
