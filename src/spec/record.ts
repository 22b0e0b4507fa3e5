/**
 * The evaluation record and the evaluation workflow's contract: its input, its output (the record), its status query.
 * The names derived from an evaluation id are in `./names.ts`, object keys in `./storage-keys.ts`, Kubernetes labels
 * in `./kube-labels.ts`, failure types in `./error-types.ts` and exit codes in `./exit-codes.ts`.
 *
 * Key names here are API: the record is what `assay result -o json` prints, what `AssayClient.result` returns and
 * what `evaluations/<id>/record.json` holds. Everything is a zod schema with the type inferred from it, so anything
 * read back from storage or from Temporal can be parsed again at the boundary.
 */
import { jobSecuritySchema } from './job-request.js';
import { z } from 'zod';
import { evaluationIdSchema } from './names.js';
import { attemptMeasurementSchema, evaluationCostSchema } from './cost.js';
import { webhookEvents } from './spec-constants.js';

/** An OpenTelemetry trace id: 32 lower-case hex digits. */
export const traceIdSchema = z.string().regex(/^[0-9a-f]{32}$/, 'must be 32 lower-case hex digits');

/** Phases of an evaluation, in the order they are normally passed through. */
export const phases = [
  'Validating',
  'SelectingCluster',
  'Queued',
  'CreatingJob',
  'Running',
  'BackingOff',
  'CleaningUp',
  'Completed',
] as const;
export const phaseSchema = z.enum(phases);
export type Phase = z.infer<typeof phaseSchema>;

/** Outcomes of an evaluation: how it ended, one per terminal webhook event and CLI exit code. */
export const outcomes = [
  'Succeeded',
  'Failed',
  'TimedOut',
  'Cancelled',
  'ConfigurationError',
  'InfrastructureError',
] as const;
export const outcomeSchema = z.enum(outcomes);
/** The outcomes that count as failures (a cancel is not one): kept in traces whatever the sampling. */
export const failureOutcomes = ['Failed', 'TimedOut', 'ConfigurationError', 'InfrastructureError'] as const;
export type Outcome = z.infer<typeof outcomeSchema>;

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
  /** What the cost is computed from (docs/cost.md); absent where the attempt was not measured. */
  measurement: attemptMeasurementSchema.nullable().optional(),
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
  measurement: attemptMeasurementSchema.nullable().optional(),
  /**
   * The cluster the attempt was placed on (docs/multi-cluster.md, "Spill-over and failover"); absent in records
   * written before an evaluation could move between clusters: the record's `cluster`.
   */
  cluster: z.string().optional(),
});
export type AttemptRecord = z.infer<typeof attemptRecordSchema>;

export const timingsSchema = z.object({
  submittedAt: isoTimestamp,
  startedAt: isoTimestamp.nullable(),
  finishedAt: isoTimestamp.nullable(),
  /** When the evaluation joined its team's quota queue and when it was admitted (docs/quota.md); the wait between. */
  queuedAt: isoTimestamp.optional(),
  admittedAt: isoTimestamp.optional(),
  queueWaitSeconds: z.number().nonnegative().optional(),
});
export type Timings = z.infer<typeof timingsSchema>;

/**
 * One artifact stored for an evaluation. A large file is an object of its own (`key`); a small one is stored in a
 * pack, an object holding many files back to back, and `offset` says where its `bytes` start in the pack `key`.
 */
export const artifactEntrySchema = z.object({
  path: z.string(),
  key: z.string(),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  offset: z.number().int().nonnegative().optional(),
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

/** One undelivered webhook event, as the record lists it. */
export const recordDeadLetterSchema = z.object({
  /** Index of the endpoint in `spec.webhooks`. */
  webhook: z.number().int().nonnegative(),
  url: z.string(),
  event: z.enum(webhookEvents),
  /** The event's `webhook-id`. */
  messageId: z.string(),
  reason: z.string().nullable(),
  /** When the last try ended. */
  at: isoTimestamp.nullable(),
});
export type RecordDeadLetter = z.infer<typeof recordDeadLetterSchema>;

/** The durable record of one evaluation: what `assay result` prints, kept in object storage after the workflow ends. */
export const evaluationRecordSchema = z.object({
  evaluationId: evaluationIdSchema,
  workflowId: z.string(),
  runId: z.string(),
  team: z.string(),
  user: z.string(),
  image: z.string(),
  cluster: z.string().nullable(),
  /** What ran the attempts (docs/migration.md); absent in records from before there was a choice: Kubernetes. */
  executor: z.enum(['kubernetes', 'docker']).optional(),
  namespace: z.string().nullable(),
  /**
   * The isolation the attempts ran with (docs/security.md): runtime, seccomp, AppArmor (or why it was skipped) and
   * the egress allow-list. Absent in records of evaluations from before isolation existed.
   */
  security: jobSecuritySchema.nullable().optional(),
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
  /** What the evaluation cost (docs/cost.md); null where it was not computed. */
  cost: evaluationCostSchema.nullable(),
  retentionUntil: isoTimestamp.nullable(),
  /** Object key of this record. */
  recordKey: z.string(),
  /**
   * Webhook events that could not be delivered (docs/notifications.md, "Dead letters"). Added to the stored record as
   * they happen, also after the evaluation ended (a delivery outlives it); absent while there are none.
   */
  notifications: z.object({ deadLetters: z.array(recordDeadLetterSchema) }).optional(),
  /**
   * The evaluation's OpenTelemetry trace (docs/observability.md): 32 hex digits, the id the trace store is searched
   * by; absent in records from before tracing, null where the workflow ran without the tracing interceptors.
   */
  traceId: traceIdSchema.nullable().optional(),
  /** The normalised EvaluationJob manifest the evaluation ran. */
  spec: z.json(),
});
export type EvaluationRecord = z.infer<typeof evaluationRecordSchema>;

/**
 * Input of the `evaluation` workflow. `spec` is the EvaluationJob as the client validated and normalised it (every
 * default filled in): the workflow plans from it without parsing it again, so a later change of the schema cannot
 * change the decisions of an evaluation that already runs. It is the only copy of the manifest in the history.
 */
export const evaluationInputSchema = z.object({
  evaluationId: evaluationIdSchema,
  spec: z.json(),
  submittedAt: isoTimestamp,
});
export type EvaluationInput = z.infer<typeof evaluationInputSchema>;

/**
 * Output of the `evaluation` workflow and argument of `writeRecord`: the record without `spec`, which stays in the
 * workflow's input (the history holds it once); whoever reads the record back joins the two.
 */
export const evaluationOutputSchema = evaluationRecordSchema.omit({ spec: true });
export type EvaluationOutput = z.infer<typeof evaluationOutputSchema>;

/**
 * Why the evaluation runs where it does (docs/multi-cluster.md, "Selection"): the choice's reason, every candidate
 * with its score and terms, best first, and every cluster left out with why.
 */
export const placementSummarySchema = z.object({
  reason: z.string(),
  candidates: z.array(
    z.object({ name: z.string(), score: z.number(), terms: z.record(z.string(), z.number()) }),
  ),
  /** `transient`: left out by its state (health, load), not the requirements; it may fit after the next probe. */
  excluded: z.array(z.object({ name: z.string(), reason: z.string(), transient: z.boolean().optional() })),
});
export type PlacementSummary = z.infer<typeof placementSummarySchema>;

/** Result of the `status` query. */
export const evaluationStatusSchema = z.object({
  evaluationId: z.string(),
  phase: phaseSchema,
  outcome: outcomeSchema.nullable(),
  reason: z.string().nullable(),
  cluster: z.string().nullable(),
  namespace: z.string().nullable(),
  /** Why that cluster; null before one is chosen, absent from workflows started before it was reported. */
  placement: placementSummarySchema.nullable().optional(),
  attempt: z.number().int().nonnegative(),
  maxAttempts: z.number().int().positive(),
  job: z.string().nullable(),
  pod: z.string().nullable(),
  timings: timingsSchema,
  attempts: z.array(attemptRecordSchema),
  recordKey: z.string(),
  /** The evaluation's trace id (docs/observability.md); absent from workflows started before tracing. */
  traceId: traceIdSchema.nullable().optional(),
  /** When the workflow is backing off before the next attempt: when that attempt starts. */
  nextAttemptAt: isoTimestamp.nullable(),
  /** While phase is `Queued`: the 1-based place in the team's quota queue, and what it waits for (docs/quota.md). */
  queuePosition: z.number().int().nonnegative().nullable().optional(),
  queue: z
    .object({
      workflowId: z.string(),
      position: z.number().int(),
      waitingFor: z.string(),
      queuedAt: isoTimestamp,
    })
    .nullable()
    .optional(),
});
export type EvaluationStatus = z.infer<typeof evaluationStatusSchema>;
