/**
 * Starting and following batches (docs/batches.md): validates the whole expansion before anything starts, then starts
 * the `batch` workflow (`batch-<id>`); the same id with the same manifest returns the existing batch.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { ulid } from 'ulid';
import { z } from 'zod';
import { batchLimits, batchWorkflowId, parseEvaluationBatch } from '../spec/evaluation-batch.js';
import {
  batchProgressQueryName,
  batchProgressSchema,
  batchResultSchema,
  batchSummarySchema,
  batchWorkflowType,
  type BatchInput,
  type BatchProgress,
  type BatchResult,
  type BatchSummary,
} from '../spec/evaluation-batch-run.js';
import { InvalidEvaluationSpecError } from '../spec/evaluation-job.js';
import { batchDecoration, batchStartAttributes } from '../spec/batch-start.js';
import { workflowTaskQueue } from '../spec/names.js';
import type { ObjectStore } from '../storage/object-store.js';

/** No batch has this id. */
export class BatchNotFoundError extends Error {
  readonly code = 'ASSAY_BATCH_NOT_FOUND';
  constructor(readonly batchId: string) {
    super(`no batch ${batchId}`);
    this.name = 'BatchNotFoundError';
  }
}

/** `ASSAY_BATCH_MAX_EVALUATIONS`: the largest expansion the client accepts. */
export function maxEvaluationsFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  return z.coerce
    .number()
    .int()
    .positive()
    .default(batchLimits.maxEvaluations)
    .parse(env.ASSAY_BATCH_MAX_EVALUATIONS === '' ? undefined : env.ASSAY_BATCH_MAX_EVALUATIONS);
}

export interface StartBatchOptions {
  /** The batch id (default `metadata.name`, else a generated one). */
  readonly id?: string;
  /** Largest expansion accepted (default {@link batchLimits.maxEvaluations}). */
  readonly maxEvaluations?: number;
  /** The schedule starting it, for `AssaySchedule`. */
  readonly schedule?: string;
}

export interface StartedBatch {
  readonly batchId: string;
  readonly workflowId: string;
  readonly size: number;
  readonly existing: boolean;
}

export class BatchClient {
  constructor(
    readonly temporal: Client,
    readonly taskQueue: string = workflowTaskQueue,
  ) {}

  /**
   * Validates the batch (every entry) and starts it, or returns the batch its id already names.
   *
   * @throws {InvalidEvaluationSpecError} listing the issues (with paths) when the batch is invalid; nothing starts.
   */
  async start(manifest: unknown, options: StartBatchOptions = {}): Promise<StartedBatch> {
    const generatedId = options.id ?? `b${ulid().toLowerCase()}`;
    const named =
      options.id !== undefined && manifest !== null && typeof manifest === 'object'
        ? {
            ...manifest,
            metadata: { ...((manifest as { metadata?: object }).metadata ?? {}), name: options.id },
          }
        : manifest;
    const parsed = parseEvaluationBatch(named, {
      generatedId,
      maxEvaluations: options.maxEvaluations ?? batchLimits.maxEvaluations,
    });
    if (!parsed.ok) throw new InvalidEvaluationSpecError(parsed.issues);
    const { batch, batchId, size } = parsed.value;
    const workflowId = batchWorkflowId(batchId);
    const input: BatchInput = {
      batchId,
      batch,
      schedule: options.schedule ?? null,
      submittedAt: new Date().toISOString(),
    };
    let existing = false;
    try {
      await this.temporal.workflow.start(batchWorkflowType, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: batchStartAttributes(batch, batchId, input.schedule),
        ...batchDecoration(parsed.value),
      });
      // With USE_EXISTING the server answers with the running batch when there is one: ours only if it has our input.
      existing = !(await this.startedWith(workflowId, input));
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      existing = true;
    }
    return { batchId, workflowId, size, existing };
  }

  private async startedWith(workflowId: string, input: BatchInput): Promise<boolean> {
    const page = await this.temporal.workflowService.getWorkflowExecutionHistory({
      namespace: this.temporal.options.namespace,
      execution: { workflowId },
      maximumPageSize: 1,
    });
    const payload = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    if (payload == null) return false;
    const first = this.temporal.options.loadedDataConverter.payloadConverter.fromPayload<{
      submittedAt?: string;
    }>(payload);
    return first.submittedAt === input.submittedAt;
  }

  /**
   * Done, running, queued and failed counts (the workflow's `progress` query).
   * @throws {BatchNotFoundError} when no batch has this id.
   */
  async progress(batchId: string): Promise<BatchProgress> {
    try {
      const raw: unknown = await this.temporal.workflow
        .getHandle(batchWorkflowId(batchId))
        .query(batchProgressQueryName);
      return batchProgressSchema.parse(raw);
    } catch (err) {
      throw translate(err, batchId);
    }
  }

  /**
   * Waits for the batch to end.
   * @throws {BatchNotFoundError} when no batch has this id.
   */
  async result(batchId: string): Promise<BatchResult> {
    try {
      return batchResultSchema.parse(
        await this.temporal.workflow.getHandle(batchWorkflowId(batchId)).result(),
      );
    } catch (err) {
      throw translate(err, batchId);
    }
  }

  /** Cancels the batch; its running evaluations are cancelled and the summary is still written. */
  async cancel(batchId: string): Promise<void> {
    try {
      await this.temporal.workflow.getHandle(batchWorkflowId(batchId)).cancel();
    } catch (err) {
      throw translate(err, batchId);
    }
  }

  /** The stored summary of a finished batch. */
  async summary(store: ObjectStore, result: BatchResult): Promise<BatchSummary> {
    const bytes = await store.getBytes(result.summaryKey);
    return batchSummarySchema.parse(JSON.parse(bytes.toString('utf8')));
  }
}

function translate(err: unknown, batchId: string): unknown {
  return err instanceof WorkflowNotFoundError ? new BatchNotFoundError(batchId) : err;
}
