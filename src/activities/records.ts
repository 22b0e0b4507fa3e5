/** The durable record of an evaluation in object storage (`evaluations/<id>/record.json`). */
import { ApplicationFailure } from '@temporalio/common';
import type { ObjectStore } from '../storage/object-store.js';
import { StorageError } from '../storage/errors.js';
import { evaluationRecordSchema } from '../spec/record.js';
import { storageKeys } from '../spec/storage-keys.js';
import type { RecordActivities } from './types.js';
import { retentionIndexKey } from '../retention/keys.js';

export interface RecordActivityDeps {
  readonly store: ObjectStore;
}

export function createRecordActivities(deps: RecordActivityDeps): RecordActivities {
  return {
    async writeRecord(record) {
      // Validated at the boundary: what lands in storage is what readers will parse.
      const parsed = evaluationRecordSchema.parse(record);
      const key = storageKeys.record(parsed.evaluationId);
      const body = `${JSON.stringify(parsed, null, 2)}\n`;
      try {
        // The retention index entry first: a record is never stored without the entry that lets the sweep find it.
        if (parsed.retentionUntil !== null) {
          await deps.store.put(retentionIndexKey(parsed.retentionUntil, parsed.evaluationId), '', {
            contentType: 'text/plain',
          });
        }
        // A plain overwrite of the same key with the same content: writing twice is harmless.
        await deps.store.put(key, body, { contentType: 'application/json' });
      } catch (err) {
        if (err instanceof StorageError && !err.retryable) {
          throw ApplicationFailure.create({
            type: err.code,
            message: err.message,
            nonRetryable: true,
            cause: err,
          });
        }
        throw err;
      }
      return { key, bytes: Buffer.byteLength(body) };
    },
  };
}
