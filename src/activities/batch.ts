/**
 * `writeBatchSummary` (docs/batches.md, "The summary"): reads the record of every evaluation the batch started from
 * object storage and stores `batches/<id>/summary.json` and `summary.csv`. Rewriting both is harmless, so a retry
 * simply writes them again.
 */
import { ApplicationFailure } from '@temporalio/common';
import { z } from 'zod';
import { summaryCsv } from '../batches/summary.js';
import { batchEvaluationId, batchSize, entryValues } from '../spec/evaluation-batch.js';
import {
  batchStorageKeys,
  writeBatchSummaryInputSchema,
  type BatchActivities,
  type BatchCounts,
  type BatchSummary,
  type BatchSummaryRow,
} from '../spec/evaluation-batch-run.js';
import { storageKeys } from '../spec/storage-keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ObjectNotFoundError } from '../storage/errors.js';

export interface BatchActivityDeps {
  readonly store: ObjectStore;
  /** Records read at once. */
  readonly concurrency?: number;
}

/** The fields of a record the summary reads; the rest of the record may change freely. */
const recordFieldsSchema = z.looseObject({
  outcome: z.string(),
  exitCode: z.number().int().nullable(),
  result: z.json().nullable().optional(),
  timings: z.looseObject({ startedAt: z.string().nullable(), finishedAt: z.string().nullable() }),
  cost: z.looseObject({ total: z.number().nullable().optional() }).nullable().optional(),
});

function seconds(from: string | null, to: string | null): number | null {
  if (from === null || to === null) return null;
  return Math.round(Date.parse(to) - Date.parse(from)) / 1000;
}

export function createBatchActivities(deps: BatchActivityDeps): BatchActivities {
  const concurrency = deps.concurrency ?? 16;
  return {
    async writeBatchSummary(raw) {
      const parsedInput = writeBatchSummaryInputSchema.safeParse(raw);
      if (!parsedInput.success) {
        throw ApplicationFailure.create({
          type: 'InvalidSummaryInput',
          message: parsedInput.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
          nonRetryable: true,
        });
      }
      const input = parsedInput.data;
      const retries = new Map(input.retries);
      const rows: BatchSummaryRow[] = new Array<BatchSummaryRow>(input.started);
      let nextIndex = 0;
      const readOne = async (index: number): Promise<void> => {
        const evaluationId = batchEvaluationId(input.batchId, index, retries.get(index) ?? 0);
        const values = entryValues(input.batch, index);
        const key = storageKeys.record(evaluationId);
        let text: string | null = null;
        try {
          text = (await deps.store.getBytes(key)).toString('utf8');
        } catch (err) {
          if (!(err instanceof ObjectNotFoundError)) throw err;
        }
        const record = text === null ? null : recordFieldsSchema.safeParse(JSON.parse(text));
        if (record === null || !record.success) {
          rows[index] = {
            index,
            evaluationId,
            values,
            outcome: record === null ? 'NotRecorded' : 'UnreadableRecord',
            exitCode: null,
            durationSeconds: null,
            cost: null,
            result: null,
            recordKey: record === null ? null : key,
          };
          return;
        }
        const r = record.data;
        rows[index] = {
          index,
          evaluationId,
          values,
          outcome: r.outcome,
          exitCode: r.exitCode,
          durationSeconds: seconds(r.timings.startedAt, r.timings.finishedAt),
          cost: r.cost?.total ?? null,
          result: r.result ?? null,
          recordKey: key,
        };
      };
      await Promise.all(
        Array.from({ length: Math.min(concurrency, input.started) }, async () => {
          while (nextIndex < input.started) await readOne(nextIndex++);
        }),
      );
      const counts: BatchCounts = { succeeded: 0, failed: 0, cancelled: 0 };
      for (const row of rows) {
        if (row.outcome === 'Succeeded') counts.succeeded++;
        else if (row.outcome === 'Cancelled') counts.cancelled++;
        else counts.failed++;
      }
      const summary: BatchSummary = {
        batchId: input.batchId,
        outcome: input.outcome,
        total: batchSize(input.batch),
        counts,
        evaluations: rows,
      };
      const summaryKey = batchStorageKeys.summaryJson(input.batchId);
      const csvKey = batchStorageKeys.summaryCsv(input.batchId);
      await deps.store.put(csvKey, summaryCsv(summary), { contentType: 'text/csv' });
      await deps.store.put(summaryKey, `${JSON.stringify(summary, null, 2)}\n`, {
        contentType: 'application/json',
      });
      return { summaryKey, csvKey, counts };
    },
  };
}
