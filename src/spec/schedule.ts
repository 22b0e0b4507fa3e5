/**
 * The contracts of scheduled runs (docs/schedules.md): the Temporal Schedule of `assay schedule create NAME` is
 * `assay-schedule-<NAME>`; each of its actions runs the `scheduledRun` workflow, which starts one batch (or one
 * evaluation) whose id is `<NAME>-<scheduled time>` (`nightly-20261130t020000`), so running a slot twice — a second
 * backfill of the same range — starts nothing new.
 */
import { z } from 'zod';
import { evaluationBatchSchema } from './evaluation-batch-schema.js';
import { dns1123LabelPattern } from './kubernetes-rules.js';

export const scheduledRunWorkflowType = 'scheduledRun';
/** The Temporal Schedule id of schedule `name`. */
export function scheduleId(name: string): string {
  return `assay-schedule-${name}`;
}
/** The workflow id prefix of its actions (Temporal appends the scheduled time). */
export function scheduledRunWorkflowId(name: string): string {
  return `assay-scheduled-${name}`;
}
/** `2026-11-30T02:00:00.000Z` → `20261130t020000`: 15 characters, sorts like the time. */
export function scheduleStamp(at: Date): string {
  return at
    .toISOString()
    .replace(/\.\d+Z$/, '')
    .replace(/[-:]/g, '')
    .toLowerCase();
}
/** The batch or evaluation id of the action scheduled at `at`. */
export function scheduledRunId(name: string, at: Date): string {
  return `${name}-${scheduleStamp(at)}`;
}
/** Characters a scheduled id adds to the schedule's name. */
export const scheduledIdSuffixLength = 16;

export const scheduleNameSchema = z
  .string()
  .regex(
    new RegExp(dns1123LabelPattern),
    'must be lowercase letters, digits and "-", starting and ending alphanumeric',
  )
  .max(36, 'must be at most 36 characters');

export const scheduledTargetSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('batch'), batch: evaluationBatchSchema }),
  /** A validated, normalised EvaluationJob. */
  z.object({ kind: z.literal('job'), job: z.json() }),
]);
export type ScheduledTarget = z.infer<typeof scheduledTargetSchema>;

export const scheduledRunInputSchema = z.object({
  schedule: z.string(),
  target: scheduledTargetSchema,
  onlyIfPreviousSucceeded: z.boolean(),
});
export type ScheduledRunInput = z.infer<typeof scheduledRunInputSchema>;

export const scheduledRunResultSchema = z.object({
  scheduledAt: z.string(),
  /** The batch or evaluation id of this slot. */
  id: z.string(),
  /** False when the slot had run before (its id existed) or was skipped. */
  started: z.boolean(),
  skipped: z.string().nullable(),
  outcome: z.string().nullable(),
});
export type ScheduledRunResult = z.infer<typeof scheduledRunResultSchema>;

export interface PreviousRun {
  readonly id: string;
  /** `AssayOutcome` once it ended; null while it runs. */
  readonly outcome: string | null;
}

export interface ScheduleActivities {
  /** The latest batch or evaluation of `schedule` whose id sorts before `before`, or null. */
  previousScheduledRun(input: {
    schedule: string;
    kind: 'batch' | 'job';
    before: string;
  }): Promise<PreviousRun | null>;
}
