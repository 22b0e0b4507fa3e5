/** The durable record of an evaluation in object storage (`evaluations/<id>/record.json`). */
import { keepFailedTrace } from '../telemetry/rescue.js';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { z } from 'zod';
import { startInputOf } from '../client/start-input.js';
import type { ObjectStore } from '../storage/object-store.js';
import { StorageError } from '../storage/errors.js';
import { evaluationRecordSchema } from '../spec/record.js';
import { storageKeys } from '../spec/storage-keys.js';
import type { RecordActivities } from './types.js';
import { retentionIndexKey } from '../retention/keys.js';
import { evaluationCostOf, recordCost, type RecordCostDeps } from '../cost/record-cost.js';
import type { OverBudgetEvent } from '../cost/budget.js';
import {
  addDeadLettersToRecord,
  mergeDeadLetters,
  storedDeadLetters,
  writeRecordMergingDeadLetters,
} from '../notifications/record-dead-letters.js';

export interface RecordActivityDeps {
  readonly store: ObjectStore;
  /**
   * The spec the calling workflow was started with. Default: read from the first event of its history through the
   * worker's client, so the spec is not copied into history a second time as this activity's argument.
   */
  readonly specOf?: (execution: { workflowId: string; runId: string }) => Promise<unknown>;
  /** Prices the evaluation and writes its ledger entry (docs/cost.md); absent: `cost` is stored as given. */
  readonly cost?: RecordCostDeps;
}

async function specFromHistory(execution: { workflowId: string; runId: string }): Promise<unknown> {
  const input = await startInputOf(Context.current().client, execution);
  if (input === null) {
    throw ApplicationFailure.create({
      type: 'RecordSpecMissing',
      message: `workflow ${execution.workflowId} has no evaluation input to take the spec from`,
      nonRetryable: true,
    });
  }
  return input.spec;
}

export function createRecordActivities(deps: RecordActivityDeps): RecordActivities {
  return {
    async writeRecord(output) {
      const execution = Context.current().info.workflowExecution;
      if (execution === undefined) throw new Error('writeRecord runs only as an activity of a workflow');
      const spec = (await (deps.specOf ?? specFromHistory)(execution)) as z.core.util.JSONType;
      const cost = deps.cost === undefined ? output.cost : evaluationCostOf(deps.cost, output);
      // Validated at the boundary: what lands in storage is what readers will parse.
      const parsed = evaluationRecordSchema.parse({ ...output, cost, spec });
      const key = storageKeys.record(parsed.evaluationId);
      let bytes: number;
      let overBudget: OverBudgetEvent | null = null;
      try {
        // The retention index entry first: a record is never stored without the entry that lets the sweep find it.
        if (parsed.retentionUntil !== null) {
          await deps.store.put(retentionIndexKey(parsed.retentionUntil, parsed.evaluationId), '', {
            contentType: 'text/plain',
          });
        }
        // The ledger entry before the record: a priced record always has its entry.
        if (deps.cost !== undefined && cost !== null) {
          overBudget = await recordCost(deps.cost, deps.store, parsed, cost, (err) => {
            Context.current().log.warn('budget check failed: no overBudget event for this evaluation', {
              evaluationId: parsed.evaluationId,
              error: String(err),
            });
          });
        }
        // Created, or replaced if unchanged since read, with the webhook dead letters known so far merged in
        // (docs/notifications.md, "Dead letters"): writing twice is harmless, and no dead letter added meanwhile by a
        // delivery is lost.
        const written = await writeRecordMergingDeadLetters(
          deps.store,
          key,
          parsed,
          await storedDeadLetters(deps.store, parsed.evaluationId),
        );
        bytes = written.bytes;
        // A delivery log stored while the record was being written: its delivery may have found no record yet.
        const later = await storedDeadLetters(deps.store, parsed.evaluationId);
        if (mergeDeadLetters(written.deadLetters, later).length > written.deadLetters.length) {
          await addDeadLettersToRecord(deps.store, parsed.evaluationId, later);
        }
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
      // A failed evaluation's trace is kept even when it was not sampled (src/telemetry/rescue.ts).
      if (keepFailedTrace(output)) {
        Context.current().log.info('failed evaluation kept in its trace although not sampled', {
          traceId: output.traceId,
        });
      }
      return { key, bytes, cost, overBudget };
    },
  };
}
