/**
 * The evaluation record and the evaluation workflow's contract (DESIGN.md "The evaluation workflow", "The record").
 *
 * Key names here are API: the record is what `assay result -o json` prints, what `AssayClient.result` returns and
 * what `evaluations/<id>/record.json` holds. Everything is a zod schema with the type inferred from it, so anything
 * read back from storage or from Temporal can be parsed again at the boundary.
 */
import { z } from 'zod';

/** Name of the evaluation workflow type. */
export const evaluationWorkflowType = 'evaluation';
/** Task queue of the evaluation workflows and of the activities that need no cluster credentials. */
export const workflowTaskQueue = 'assay';
/**
 * Task queue of the activities that act on cluster `name` (served by a worker holding its credentials):
 * `assay-cluster-<name>` for the default workflow queue. Tests run isolated queues with another base.
 */
export function clusterTaskQueue(name: string, workflowQueue: string = workflowTaskQueue): string {
  return `${workflowQueue}-cluster-${name}`;
}
/** Workflow id of evaluation `evaluationId`. */
export function evaluationWorkflowId(evaluationId: string): string {
  return `eval-${evaluationId}`;
}
/** Kubernetes Job name of attempt `attempt` of evaluation `evaluationId`. */
export function attemptJobName(evaluationId: string, attempt: number): string {
  return `assay-${evaluationId}-${attempt}`;
}

/** Name of the query that returns {@link EvaluationStatus}. */
export const statusQueryName = 'status';

/**
 * Evaluation ids become parts of Kubernetes names (`assay-<id>-<n>`, ≤ 63 characters) and of object keys: a DNS-1123
 * label of at most 54 characters, which leaves room for the prefix and an attempt number up to 10 (the same bound as
 * `metadata.name`).
 */
export const evaluationIdSchema = z
  .string()
  .min(1)
  .max(54)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be lowercase letters, digits and "-", starting and ending alphanumeric',
  );

/** Phases of an evaluation, in the order they are normally passed through. */
export const phases = [
  'Validating',
  'SelectingCluster',
  'CreatingJob',
  'Running',
  'BackingOff',
  'CleaningUp',
  'Completed',
] as const;
export const phaseSchema = z.enum(phases);
export type Phase = z.infer<typeof phaseSchema>;

/** Outcomes of an evaluation (DESIGN.md "The record"). */
export const outcomes = [
  'Succeeded',
  'Failed',
  'TimedOut',
  'Cancelled',
  'ConfigurationError',
  'InfrastructureError',
] as const;
export const outcomeSchema = z.enum(outcomes);
export type Outcome = z.infer<typeof outcomeSchema>;

/**
 * `type` names of the application failures Assay's activities and workflows raise. Across Temporal, match on these,
 * never on `instanceof`.
 */
export const errorTypes = {
  /** The manifest does not satisfy the EvaluationJob schema. Not retryable. */
  invalidSpec: 'InvalidSpec',
  /** No cluster in the registry satisfies the spec's requirements. Not retryable. */
  noCluster: 'NoClusterAvailable',
  /** A Job with our deterministic name exists but is not ours (labels differ). Not retryable. */
  jobConflict: 'JobNameConflict',
  /** The cluster refused the Job or Pod outright (admission, invalid object). Not retryable. */
  rejected: 'JobRejected',
  /** The worker's configuration does not allow the operation (e.g. unknown cluster). Not retryable. */
  workerMisconfigured: 'WorkerMisconfigured',
} as const;
export type ErrorType = (typeof errorTypes)[keyof typeof errorTypes];

/**
 * How one attempt ended, as the classifier sees it. `Infrastructure` attempts are retried by the workflow;
 * `Configuration` ones fail the evaluation fast.
 */
export const attemptEndKinds = [
  'Succeeded',
  'Failed',
  'TimedOut',
  'Infrastructure',
  'Configuration',
] as const;
export const attemptEndKindSchema = z.enum(attemptEndKinds);
export type AttemptEndKind = z.infer<typeof attemptEndKindSchema>;

const isoTimestamp = z.iso.datetime({ offset: true });

/** Where one attempt's logs are stored. `split` says whether stdout and stderr were captured separately. */
export const attemptLogsSchema = z.object({
  split: z.boolean(),
  stdout: z.string().nullable(),
  stderr: z.string().nullable(),
  /** Set when the streams were not split: the key of the combined log. */
  combined: z.string().nullable(),
  bytes: z.number().int().nonnegative(),
  /** Key of `events.ndjson` (lines grouped into events); absent in records written before it existed. */
  events: z.string().nullable().optional(),
  /** Number of log lines stored. */
  lines: z.number().int().nonnegative().optional(),
});
export type AttemptLogs = z.infer<typeof attemptLogsSchema>;

/** The end of one attempt, as observed on the cluster (returned by the wait activity). */
export const attemptEndSchema = z.object({
  kind: attemptEndKindSchema,
  pod: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  /** Kubernetes' reason (`Completed`, `Error`, `OOMKilled`, `DeadlineExceeded`, `Evicted`, `ErrImageNeverPull`, …). */
  reason: z.string().nullable(),
  /** A human-readable explanation, e.g. the kubelet's message for a pull error. */
  message: z.string().nullable(),
  startedAt: isoTimestamp.nullable(),
  finishedAt: isoTimestamp.nullable(),
  /** The termination message parsed as JSON when it is JSON (the result contract), else null. */
  result: z.json().nullable(),
  /** The raw termination message (≤ 4 KB), when there is one. */
  terminationMessage: z.string().nullable(),
});
export type AttemptEnd = z.infer<typeof attemptEndSchema>;

/** One attempt in the record. */
export const attemptRecordSchema = z.object({
  attempt: z.number().int().positive(),
  job: z.string(),
  pod: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  kind: attemptEndKindSchema.nullable(),
  startedAt: isoTimestamp.nullable(),
  finishedAt: isoTimestamp.nullable(),
  logs: attemptLogsSchema.nullable(),
});
export type AttemptRecord = z.infer<typeof attemptRecordSchema>;

export const timingsSchema = z.object({
  submittedAt: isoTimestamp,
  startedAt: isoTimestamp.nullable(),
  finishedAt: isoTimestamp.nullable(),
});
export type Timings = z.infer<typeof timingsSchema>;

/** One artifact stored for an evaluation (filled once artifact extraction exists). */
export const artifactEntrySchema = z.object({
  path: z.string(),
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
});

export type ArtifactEntry = z.infer<typeof artifactEntrySchema>;

/** Why an entry of the pod's result or artifacts was refused (see `src/artifacts/policy.ts`). */
export const artifactViolationKinds = [
  'absolutePath',
  'parentTraversal',
  'invalidName',
  'linkOutside',
  /** A link inside the directory: not followed or copied (object storage has no links). Not hostile. */
  'link',
  'specialFile',
  'tooManyFiles',
  'tooManyBytes',
  'resultTooLarge',
  'resultInvalid',
  /** The collector could not read a file (e.g. mode 000), reported by its `tar`. */
  'unreadable',
] as const;
export const artifactViolationKindSchema = z.enum(artifactViolationKinds);
export type ArtifactViolationKind = z.infer<typeof artifactViolationKindSchema>;

export const artifactViolationSchema = z.object({
  path: z.string(),
  kind: artifactViolationKindSchema,
  message: z.string(),
});
export type ArtifactViolation = z.infer<typeof artifactViolationSchema>;

/** Where the result came from and where it is stored (`attempts/<n>/result.json`). */
export const resultInfoSchema = z.object({
  source: z.enum(['file', 'terminationMessage']),
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  /** False when the result is too large to travel through history: `result` is then null in the workflow's record. */
  inline: z.boolean(),
});
export type ResultInfo = z.infer<typeof resultInfoSchema>;

/** The artifacts of an evaluation, summarised: `artifacts` holds the manifest when it is small enough to inline. */
export const artifactsSummarySchema = z.object({
  /** The complete manifest (`ArtifactEntry[]` as JSON). */
  manifestKey: z.string(),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  /** True when `artifacts` lists every file; false when only the stored manifest does. */
  complete: z.boolean(),
  /** Entries refused, in stream order (at most 100; `violationCount` counts them all). */
  violations: z.array(artifactViolationSchema),
  violationCount: z.number().int().nonnegative(),
});
export type ArtifactsSummary = z.infer<typeof artifactsSummarySchema>;

/** The durable record of one evaluation (DESIGN.md "The record"). */
export const evaluationRecordSchema = z.object({
  evaluationId: evaluationIdSchema,
  workflowId: z.string(),
  runId: z.string(),
  team: z.string(),
  user: z.string(),
  image: z.string(),
  cluster: z.string().nullable(),
  namespace: z.string().nullable(),
  outcome: outcomeSchema,
  reason: z.string().nullable(),
  message: z.string().nullable(),
  exitCode: z.number().int().nullable(),
  attempts: z.array(attemptRecordSchema),
  result: z.json().nullable(),
  /** Set when a result was found (result file or termination message). */
  resultInfo: resultInfoSchema.nullable().optional(),
  artifacts: z.array(artifactEntrySchema),
  /** Set when the spec declares artifacts or a result file and the collector was read. */
  artifactsSummary: artifactsSummarySchema.nullable().optional(),
  timings: timingsSchema,
  /** Cost in USD, once cost accounting exists; null until then. */
  cost: z.object({ usd: z.number().nonnegative() }).nullable(),
  retentionUntil: isoTimestamp.nullable(),
  /** Object key of this record. */
  recordKey: z.string(),
  /** The normalised EvaluationJob manifest the evaluation ran. */
  spec: z.json(),
});
export type EvaluationRecord = z.infer<typeof evaluationRecordSchema>;

/** Input of the `evaluation` workflow. `manifest` is validated again inside the workflow. */
export const evaluationInputSchema = z.object({
  evaluationId: evaluationIdSchema,
  manifest: z.json(),
  submittedAt: isoTimestamp,
});
export type EvaluationInput = z.infer<typeof evaluationInputSchema>;

/** Output of the `evaluation` workflow: the record. */
export type EvaluationOutput = EvaluationRecord;

/** Result of the `status` query. */
export const evaluationStatusSchema = z.object({
  evaluationId: z.string(),
  phase: phaseSchema,
  outcome: outcomeSchema.nullable(),
  reason: z.string().nullable(),
  cluster: z.string().nullable(),
  namespace: z.string().nullable(),
  attempt: z.number().int().nonnegative(),
  maxAttempts: z.number().int().positive(),
  job: z.string().nullable(),
  pod: z.string().nullable(),
  timings: timingsSchema,
  attempts: z.array(attemptRecordSchema),
  recordKey: z.string(),
  /** When the workflow is backing off before the next attempt: when that attempt starts. */
  nextAttemptAt: isoTimestamp.nullable(),
});
export type EvaluationStatus = z.infer<typeof evaluationStatusSchema>;

/** Object keys (DESIGN.md "Object storage layout"). */
export const storageKeys = {
  record: (evaluationId: string): string => `evaluations/${evaluationId}/record.json`,
  attemptPrefix: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/`,
  stdout: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/stdout.log`,
  stderr: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/stderr.log`,
  result: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/result.json`,
  artifactsPrefix: (evaluationId: string): string => `evaluations/${evaluationId}/artifacts/`,
  /** The complete artifact manifest; beside `artifacts/`, so no artifact path can collide with it. */
  artifactsManifest: (evaluationId: string): string => `evaluations/${evaluationId}/artifacts.json`,
  evaluationPrefix: (evaluationId: string): string => `evaluations/${evaluationId}/`,
  events: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/events.ndjson`,
  /** Used only when the cluster cannot split the streams. */
  combined: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/combined.log`,
};

/** Labels and annotations Assay sets on its Jobs and Pods (DESIGN.md "Pod anatomy"). */
export const labelKeys = {
  evaluationId: 'assay.dev/evaluation-id',
  attempt: 'assay.dev/attempt',
  team: 'assay.dev/team',
  user: 'assay.dev/user',
  priority: 'assay.dev/priority',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;
export const annotationKeys = {
  workflowId: 'assay.dev/workflow-id',
  runId: 'assay.dev/run-id',
  image: 'assay.dev/image',
} as const;
/** The pod finalizer that keeps a pod (and its logs) until the workflow has captured everything. */
export const captureFinalizer = 'assay.dev/capture';
/** Value of `app.kubernetes.io/managed-by` on everything Assay creates. */
export const managedByValue = 'assay';

/** The CLI exit code that follows an outcome (DESIGN.md "The record"). */
export function exitCodeForOutcome(outcome: Outcome): 0 | 1 | 3 | 4 {
  switch (outcome) {
    case 'Succeeded':
      return 0;
    case 'Failed':
    case 'TimedOut':
      return 1;
    case 'ConfigurationError':
    case 'InfrastructureError':
      return 3;
    case 'Cancelled':
      return 4;
  }
}
