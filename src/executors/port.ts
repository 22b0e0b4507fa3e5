/**
 * The executor port (docs/architecture.md, "Executors"; docs/migration.md): what one attempt needs from whatever runs
 * it. Each executor is a kind of cluster in the worker's registry (`clusters[].executor`); its cluster worker serves
 * the port under the activity names the evaluation workflow already calls, on that entry's task queue, so the
 * workflow knows the executor only as a name in the cluster choice and the record.
 */
import type { CollectOutputsInput, CollectedOutputs, OutputActivities } from '../activities/artifacts.js';
import type {
  AttemptRef,
  AwaitAttemptInput,
  CleanupResult,
  ClusterQueueActivities,
  CreateJobResult,
  LogCaptureInput,
} from '../activities/types.js';
import type { JobRequest } from '../spec/job-request.js';
import type { AttemptEnd, AttemptLogs } from '../spec/record.js';
import type { ExecutorKind } from '../spec/worker-config.js';

/** What an executor says about one attempt's workload (a Job and its pods, or a container) right now. */
export interface AttemptDescription {
  readonly executor: ExecutorKind;
  /** The Job or container name; null when nothing of the attempt exists. */
  readonly name: string | null;
  /** `created`, `running`, `exited`, … in the executor's own words; `absent` when nothing exists. */
  readonly state: string;
  readonly exitCode: number | null;
  readonly labels: Readonly<Record<string, string>>;
}

/**
 * One attempt's life on an executor. Every method is idempotent and safe to retry after a worker crash; each runs
 * inside a Temporal activity (heartbeats and cancellation come from its context).
 */
export interface AttemptExecutor {
  readonly kind: ExecutorKind;
  /**
   * Creates (and starts) the attempt's workload, named after the evaluation id and attempt. An existing one with
   * Assay's labels for this attempt is reused (`created: false`).
   *
   * @throws ApplicationFailure `JobNameConflict` for a workload of that name that is not ours, `JobRejected` when the
   *   executor refuses it (not retryable).
   */
  create(request: JobRequest): Promise<CreateJobResult>;
  /** Waits until the main process has ended (stopping it at its timeout) and classifies the end. */
  awaitEnd(input: AwaitAttemptInput): Promise<AttemptEnd>;
  /**
   * Captures stdout and stderr, split and timestamped, into the attempt's log objects while it runs, resuming from the
   * heartbeated checkpoint after a crash; null when the process never started.
   */
  storeLogs(input: LogCaptureInput): Promise<AttemptLogs | null>;
  /** Reads the result file and artifacts out through the shared tar policy (`src/artifacts`) into object storage. */
  collect(input: CollectOutputsInput): Promise<CollectedOutputs>;
  /** Removes the attempt's workload (and what only it used). */
  delete(ref: AttemptRef): Promise<CleanupResult>;
  describe(ref: AttemptRef): Promise<AttemptDescription>;
}

/** Activities of the port beyond the ones the workflow calls today. */
export interface DescribeActivities {
  describeAttempt(ref: AttemptRef): Promise<AttemptDescription>;
}

/** The activities a cluster worker serves for an executor: the workflow's names, implemented by the port. */
export function executorActivities(
  executor: AttemptExecutor,
): ClusterQueueActivities & OutputActivities & DescribeActivities {
  return {
    createJob: (request) => executor.create(request),
    awaitAttempt: (input) => executor.awaitEnd(input),
    storeAttemptLogs: (input) => executor.storeLogs(input),
    collectOutputs: (input) => executor.collect(input),
    cleanupAttempt: (ref) => executor.delete(ref),
    describeAttempt: (ref) => executor.describe(ref),
  };
}
