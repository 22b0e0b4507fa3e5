/**
 * The contracts of a running batch (docs/batches.md): the `batch` workflow's input (also what it carries across
 * continue-as-new), its progress query, its result, the summary activity's input and the summary it stores at
 * `batches/<id>/summary.json` and `summary.csv`.
 */
import { z } from 'zod';
import { evaluationBatchSchema } from './evaluation-batch-schema.js';

/** Workflow type of a batch. */
export const batchWorkflowType = 'batch';
/** Name of the batch's progress query. */
export const batchProgressQueryName = 'progress';

/** Object keys of a batch's summary. */
export const batchStorageKeys = {
  summaryJson: (batchId: string): string => `batches/${batchId}/summary.json`,
  summaryCsv: (batchId: string): string => `batches/${batchId}/summary.csv`,
};

export const batchCountsSchema = z.object({
  succeeded: z.number().int().nonnegative(),
  failed: z.number().int().nonnegative(),
  cancelled: z.number().int().nonnegative(),
});
export type BatchCounts = z.infer<typeof batchCountsSchema>;

/** What a run of the batch workflow hands to the next one (continue-as-new). */
export const batchCarriedSchema = z.object({
  /** The next entry never started. */
  next: z.number().int().nonnegative(),
  /** Entries to run again, with the re-run number. */
  rerun: z.array(z.tuple([z.number().int(), z.number().int()])),
  /** Entry → the re-run number of its latest evaluation (only entries that were re-run). */
  retries: z.array(z.tuple([z.number().int(), z.number().int()])),
  counts: batchCountsSchema,
  stopped: z.boolean(),
  runs: z.number().int().positive(),
});
export type BatchCarried = z.infer<typeof batchCarriedSchema>;

export const batchInputSchema = z.object({
  batchId: z.string(),
  /** The validated, normalised batch manifest. */
  batch: evaluationBatchSchema,
  /** The schedule that started it, if any (`AssaySchedule` of every child). */
  schedule: z.string().nullable(),
  submittedAt: z.string(),
  /** Children started per run before continue-as-new: keeps every run's history bounded. */
  childrenPerRun: z.number().int().positive().optional(),
  carried: batchCarriedSchema.optional(),
});
export type BatchInput = z.infer<typeof batchInputSchema>;

export const batchPhases = ['Running', 'Stopping', 'Summarising', 'Completed'] as const;

export const batchProgressSchema = z.object({
  batchId: z.string(),
  phase: z.enum(batchPhases),
  total: z.number().int(),
  running: z.number().int(),
  queued: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  cancelled: z.number().int(),
  run: z.number().int(),
});
export type BatchProgress = z.infer<typeof batchProgressSchema>;

export const batchOutcomes = ['Succeeded', 'Failed', 'Cancelled'] as const;
export const batchOutcomeSchema = z.enum(batchOutcomes);
export type BatchOutcome = z.infer<typeof batchOutcomeSchema>;

export const batchResultSchema = z.object({
  batchId: z.string(),
  outcome: batchOutcomeSchema,
  total: z.number().int(),
  counts: batchCountsSchema,
  notStarted: z.number().int(),
  summaryKey: z.string(),
  csvKey: z.string(),
});
export type BatchResult = z.infer<typeof batchResultSchema>;

/** One row of the summary: one evaluation (the latest re-run of its entry). */
export const batchSummaryRowSchema = z.object({
  index: z.number().int(),
  evaluationId: z.string(),
  values: z.record(z.string(), z.string()),
  outcome: z.string(),
  exitCode: z.number().int().nullable(),
  durationSeconds: z.number().nullable(),
  cost: z.number().nullable(),
  result: z.json().nullable(),
  recordKey: z.string().nullable(),
});
export type BatchSummaryRow = z.infer<typeof batchSummaryRowSchema>;

export const batchSummarySchema = z.object({
  batchId: z.string(),
  outcome: batchOutcomeSchema,
  total: z.number().int(),
  counts: batchCountsSchema,
  evaluations: z.array(batchSummaryRowSchema),
});
export type BatchSummary = z.infer<typeof batchSummarySchema>;

export const writeBatchSummaryInputSchema = z.object({
  batchId: z.string(),
  batch: evaluationBatchSchema,
  outcome: batchOutcomeSchema,
  /** Entries 0 … started-1 were started. */
  started: z.number().int().nonnegative(),
  retries: z.array(z.tuple([z.number().int(), z.number().int()])),
});
export type WriteBatchSummaryInput = z.infer<typeof writeBatchSummaryInputSchema>;

export interface BatchActivities {
  writeBatchSummary(
    input: WriteBatchSummaryInput,
  ): Promise<{ summaryKey: string; csvKey: string; counts: BatchCounts }>;
}
