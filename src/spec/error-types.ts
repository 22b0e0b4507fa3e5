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
  /** The evaluation is larger than its team's whole quota or its user's cap: it could never run. Not retryable. */
  quotaExceeded: 'QuotaExceeded',
  /**
   * A quota workflow refused a reserve update because it is about to continue as new (a refused update leaves no
   * event in its history); the reserve is sent again, and reaches the next run.
   */
  quotaContinuing: 'QuotaContinuingAsNew',
} as const;
export type ErrorType = (typeof errorTypes)[keyof typeof errorTypes];

/**
 * Retryable failures of Assay's own that callers may match on. `NoClusterReady`: every cluster that meets the
 * requirements is left out by its state (unhealthy, at its limit): selection is retried with backoff until one fits,
 * as a queue would wait, instead of failing the evaluation on a transient state.
 */
export const retryableErrorTypes = {
  noClusterReady: 'NoClusterReady',
} as const;
