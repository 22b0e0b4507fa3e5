/**
 * The fixed values of the EvaluationJob manifest: its apiVersion and kind, the directories and environment prefix Assay
 * reserves in the container, the enumerations (priorities, webhook events), and the bounds and defaults of every field.
 * Exported so documentation, tests and the schema quote the same numbers.
 */
/** The only `apiVersion` this schema accepts. */
export const evaluationJobApiVersion = 'assay.dev/v1';
/** The `kind` of the manifest and of the custom resource. */
export const evaluationJobKind = 'EvaluationJob';

/** Where the main container finds the result directory (an emptyDir shared with the collector). */
export const assayResultDir = '/assay/result';
/** Where the main container writes artifacts (an emptyDir shared with the collector); `$ASSAY_ARTIFACTS_DIR`. */
export const assayArtifactsDir = '/assay/artifacts';
/** Environment variables with this prefix are set by Assay (`ASSAY_RESULT_PATH`, …) and cannot be overridden. */
export const reservedEnvPrefix = 'ASSAY_';

/** Evaluation priorities, lowest first. */
export const priorities = ['low', 'normal', 'high'] as const;
/** An evaluation's priority: orders the team's quota queue and picks the Kubernetes PriorityClass. */
export type Priority = (typeof priorities)[number];

/** Webhook events of an evaluation's outcome, one per outcome of the record: the default subscription. */
const terminalWebhookEvents = [
  'succeeded',
  'failed',
  'timedOut',
  'cancelled',
  'configurationError',
  'infrastructureError',
] as const;
/**
 * Events a webhook can subscribe to: progress (`queued`, `started`, `retrying`), `overBudget` (this evaluation took
 * its team over its monthly budget; sent just before the outcome's event), then one per outcome.
 */
export const webhookEvents = ['queued', 'started', 'retrying', 'overBudget', ...terminalWebhookEvents] as const;
/** The events that end an evaluation: the last one each webhook endpoint is sent. */
export const terminalEvents: readonly WebhookEvent[] = terminalWebhookEvents;
/** One webhook event name. */
export type WebhookEvent = (typeof webhookEvents)[number];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

const maxAttemptsLimit = 10;
// Jobs are named `assay-<name>-<attempt>` and a Job name must fit a label value (63 characters).
const jobNameOverhead = 'assay-'.length + '-'.length + String(maxAttemptsLimit).length;

/** The upper (and a few lower) bounds of every field. Exported so documentation and tests quote the same numbers. */
export const specLimits = {
  /** `metadata.name`, so that `assay-<name>-<attempt>` is a valid Job name. */
  nameLength: 63 - jobNameOverhead,
  /** `spec.team`, so that the namespace `assay-<team>` is a valid namespace name. */
  teamLength: 63 - 'assay-'.length,
  userLength: 63,
  imageLength: 512,
  commandItems: 64,
  argsItems: 256,
  argumentLength: 4096,
  envVars: 100,
  envNameLength: 256,
  envValueLength: 8 * KiB,
  /** command, args and env values together: the whole invocation ends up in the Job object and in history. */
  invocationLength: 128 * KiB,
  workingDirLength: 1024,
  labels: 64,
  annotations: 64,
  /** Kubernetes' own limit on the total size of an object's annotations. */
  annotationsLength: 256 * KiB,
  minCpuMillicores: 1,
  maxCpuMillicores: 256_000,
  /** runc refuses memory limits below about 6 MiB; below 16 MiB hardly any runtime starts. */
  minMemoryBytes: 16 * MiB,
  maxMemoryBytes: TiB,
  minEphemeralStorageBytes: 16 * MiB,
  maxEphemeralStorageBytes: TiB,
  gpuCount: 16,
  minTimeoutSeconds: 1,
  maxTimeoutSeconds: 7 * 24 * 3600,
  maxAttempts: maxAttemptsLimit,
  maxBackoffSeconds: 3600,
  transientExitCodes: 32,
  resultBytes: 100 * MiB,
  artifactBytes: 100 * GiB,
  artifactFiles: 100_000,
  artifactPaths: 64,
  pathLength: 256,
  webhooks: 10,
  webhookUrlLength: 2048,
  clusterSelectorLabels: 16,
  maxRetentionDays: 365,
  quantityLength: 64,
} as const;

/** The defaults parsing fills in. */
export const specDefaults = {
  cpu: '1',
  memory: '1Gi',
  ephemeralStorage: '2Gi',
  gpuCount: 1,
  timeoutSeconds: 3600,
  priority: 'normal' as Priority,
  maxAttempts: 3,
  backoffSeconds: 10,
  resultPath: 'result.json',
  resultMaxBytes: MiB,
  artifactPaths: ['.'] as readonly string[],
  artifactMaxBytes: GiB,
  artifactMaxFiles: 10_000,
  webhookEvents: terminalWebhookEvents as readonly WebhookEvent[],
  retentionDays: 30,
} as const;
