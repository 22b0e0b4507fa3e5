import { describe, expect, it } from '@jest/globals';
import type { Readable } from 'node:stream';
import {
  addDeadLettersToRecord,
  deadLettersOf,
  storedDeadLetters,
  writeRecordMergingDeadLetters,
} from '../../../src/notifications/record-dead-letters.js';
import { deliveryLogKey, type DeliveryLog } from '../../../src/notifications/payload.js';
import type { RecordDeadLetter } from '../../../src/spec/record.js';
import { storageKeys } from '../../../src/spec/storage-keys.js';
import type { PutOptions, PutResult } from '../../../src/storage/object-store.js';
import { MemoryStore } from '../logs/fakes.js';

const id = 'ev1';
const key = storageKeys.record(id);

function log(index: number, states: ('delivered' | 'deadLetter')[]): DeliveryLog {
  return {
    evaluationId: id,
    index,
    url: `https://hooks.example/${index}`,
    workflowId: `webhooks-${id}-${index}`,
    disabled: false,
    finished: true,
    events: states.map((state, i) => ({
      id: `msg_${id}_e${i}_1`,
      type: i === 0 ? 'started' : 'succeeded',
      timestamp: '2026-11-30T10:00:00.000Z',
      state,
      reason: state === 'deadLetter' ? 'exhausted after 2 tries; last: HTTP 500' : null,
      attempts: [
        {
          attempt: 1,
          at: `2026-11-30T10:00:0${i}.000Z`,
          outcome: state === 'deadLetter' ? 'retry' : 'delivered',
          status: state === 'deadLetter' ? 500 : 200,
          latencyMs: 3,
          error: null,
          address: '127.0.0.1',
        },
      ],
    })),
  };
}

const letter = (webhook: number, n: number): RecordDeadLetter => ({
  webhook,
  url: `https://hooks.example/${webhook}`,
  event: 'succeeded',
  messageId: `msg_${id}_e${n}_1`,
  reason: 'rejected: HTTP 400',
  at: '2026-11-30T10:00:05.000Z',
});

const stored = (store: MemoryStore) =>
  JSON.parse(store.text(key)) as { outcome: string; notifications?: { deadLetters: RecordDeadLetter[] } };

/** A store in which another writer writes the record once, just before this one's next put lands. */
class Interleaved extends MemoryStore {
  interloper: (() => Promise<void>) | null = null;
  override async put(
    k: string,
    body: Readable | Buffer | Uint8Array | string,
    options?: PutOptions,
  ): Promise<PutResult> {
    const other = this.interloper;
    this.interloper = null;
    if (other !== null) await other();
    return super.put(k, body, options);
  }
}

describe('dead letters in the record', () => {
  it('takes the dead letters of a delivery log, with endpoint, event, id, reason and time', () => {
    expect(deadLettersOf(log(2, ['delivered', 'deadLetter']))).toEqual([
      {
        webhook: 2,
        url: 'https://hooks.example/2',
        event: 'succeeded',
        messageId: `msg_${id}_e1_1`,
        reason: 'exhausted after 2 tries; last: HTTP 500',
        at: '2026-11-30T10:00:01.000Z',
      },
    ]);
  });

  it('the record writer merges the stored logs; a later delivery adds to it; a rewrite keeps both', async () => {
    const store = new MemoryStore();
    await store.put(deliveryLogKey(id, 0), JSON.stringify(log(0, ['deadLetter'])));
    await store.put(deliveryLogKey(id, 1), JSON.stringify(log(1, ['delivered'])));
    const before = await storedDeadLetters(store, id);
    expect(before.map((l) => l.webhook)).toEqual([0]);
    await writeRecordMergingDeadLetters(store, key, { outcome: 'Succeeded' }, before);
    expect(stored(store).notifications?.deadLetters).toHaveLength(1);

    await expect(addDeadLettersToRecord(store, id, [letter(1, 1)])).resolves.toBe(true);
    // Added twice: once.
    await expect(addDeadLettersToRecord(store, id, [letter(1, 1)])).resolves.toBe(true);
    expect(stored(store).notifications?.deadLetters.map((l) => l.webhook)).toEqual([0, 1]);

    // The record activity retried: it writes the record again and keeps what the delivery added.
    await writeRecordMergingDeadLetters(store, key, { outcome: 'Succeeded' }, before);
    expect(stored(store).notifications?.deadLetters.map((l) => l.webhook)).toEqual([0, 1]);
    expect(stored(store).outcome).toBe('Succeeded');
  });

  it('a record without dead letters has no notifications field; a delivery finding no record leaves it to the writer', async () => {
    const store = new MemoryStore();
    await expect(addDeadLettersToRecord(store, id, [letter(0, 0)])).resolves.toBe(false);
    expect(store.objects.has(key)).toBe(false);
    await writeRecordMergingDeadLetters(store, key, { outcome: 'Failed' }, []);
    expect(stored(store)).toEqual({ outcome: 'Failed' });
  });

  it('a write that lands between the read and the conditional write is kept: the loser reads again', async () => {
    const store = new Interleaved();
    await writeRecordMergingDeadLetters(store, key, { outcome: 'Succeeded' }, []);
    store.interloper = async () => {
      await addDeadLettersToRecord(store, id, [letter(3, 0)]);
    };
    await expect(addDeadLettersToRecord(store, id, [letter(4, 0)])).resolves.toBe(true);
    expect(stored(store).notifications?.deadLetters.map((l) => l.webhook)).toEqual([3, 4]);
    const puts = store.calls.filter((c) => c.operation === 'put' && c.key === key);
    // The first record, the interloper's, the refused one, and the retry.
    expect(puts).toHaveLength(4);
  });
});
