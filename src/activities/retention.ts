/**
 * The retention sweep (docs/architecture.md, "Object storage layout"): deletes every object of the evaluations whose
 * `retentionUntil` has passed — logs, results, artifacts, manifest and, last, the record — and aborts their unfinished
 * uploads. Needed where the store has no lifecycle rules (the local stack's versitygw answers 501), and correct
 * everywhere, since each evaluation has its own retention. Idempotent: a retried sweep finds the record again and
 * finishes the job, because the record and the index entry are deleted last.
 */
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { storageKeys } from '../spec/storage-keys.js';
import { orNullIfNotFound } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { parseRetentionIndexKey, retentionIndexKey, retentionIndexPrefix } from '../retention/keys.js';

export interface SweepInput {
  /** Evaluations deleted per call at most; the workflow calls again while `more`. */
  readonly maxEvaluations: number;
}

export interface SweepResult {
  readonly evaluations: string[];
  readonly objects: number;
  /** True when the limit stopped the sweep before the index's last due day. */
  readonly more: boolean;
}

export interface RetentionActivities {
  sweepExpiredEvaluations(input: SweepInput): Promise<SweepResult>;
}

export interface RetentionActivityDeps {
  readonly store: ObjectStore;
  readonly now?: () => Date;
}

const recordRetentionSchema = z.object({ retentionUntil: z.string().nullable() });

export function createRetentionActivities(deps: RetentionActivityDeps): RetentionActivities {
  const now = deps.now ?? (() => new Date());
  const { store } = deps;

  /** The record's `retentionUntil`; `undefined` when the record is gone (deleted by an earlier, interrupted sweep). */
  async function retentionOf(evaluationId: string, signal: AbortSignal): Promise<string | null | undefined> {
    const bytes = await orNullIfNotFound(store.getBytes(storageKeys.record(evaluationId), { signal }));
    if (bytes === null) return undefined;
    return recordRetentionSchema.parse(JSON.parse(bytes.toString('utf8'))).retentionUntil;
  }

  return {
    async sweepExpiredEvaluations({ maxEvaluations }) {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const at = now();
      const today = at.toISOString().slice(0, 10);
      const evaluations: string[] = [];
      let objects = 0;
      for await (const entry of store.list(retentionIndexPrefix, { signal })) {
        const parsed = parseRetentionIndexKey(entry.key);
        if (parsed === null) continue;
        if (parsed.day > today) return { evaluations, objects, more: false };
        if (evaluations.length >= maxEvaluations) return { evaluations, objects, more: true };
        ctx.heartbeat({ evaluations: evaluations.length, objects });
        const until = await retentionOf(parsed.evaluationId, signal);
        if (until !== undefined && (until === null || new Date(until).getTime() > at.getTime())) {
          // Kept longer (the record was rewritten): the record's own index entry stands; this one is stale.
          if (until === null || retentionIndexKey(until, parsed.evaluationId) !== entry.key) {
            await store.delete(entry.key, { signal });
          }
          continue;
        }
        const prefix = storageKeys.evaluationPrefix(parsed.evaluationId);
        for await (const upload of store.listMultipartUploads(prefix, { signal })) {
          await store.abortMultipart(upload.key, upload.uploadId, { signal });
        }
        const record = storageKeys.record(parsed.evaluationId);
        for await (const object of store.list(prefix, { signal })) {
          if (object.key === record) continue;
          await store.delete(object.key, { signal });
          objects++;
        }
        if (until !== undefined) {
          await store.delete(record, { signal });
          objects++;
        }
        await store.delete(entry.key, { signal });
        evaluations.push(parsed.evaluationId);
      }
      return { evaluations, objects, more: false };
    },
  };
}
