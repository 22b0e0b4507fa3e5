/**
 * The activity interfaces the evaluation workflow calls. Workflows import these as types only and reach the
 * implementations through `proxyActivities`; the `createXActivities` factories return objects of these types.
 */
import type { MultilineRules } from '../logs/events.js';
import type { JobRequest, JobSecurity } from '../spec/job-request.js';
import type { IsolationRequest } from '../security/resolve.js';
import type { AttemptEnd, AttemptLogs, EvaluationOutput } from '../spec/record.js';
import type { EvaluationCost } from '../spec/cost.js';
import type { OverBudgetEvent } from '../cost/budget.js';
import type { ExecutorKind } from '../spec/worker-config.js';
import type { Candidate, Exclusion, ResourceRequest } from '../placement/types.js';

/** What the workflow asks of the cluster registry. */
export interface ClusterRequirements {
  team: string;
  /** A cluster by name, or null for any. */
  name: string | null;
  /** Labels the cluster must carry. */
  selector: Record<string, string>;
  gpuType: string | null;
  /** What the evaluation asks of its isolation; absent in workflows started before isolation existed. */
  isolation?: IsolationRequest;
  /** The evaluation and its user, for the executor rollout (docs/migration.md); absent in older workflows. */
  evaluationId?: string;
  user?: string;
  /**
   * What the evaluation requests (`resourceRequestOf`, src/placement/request.ts), for per-cluster limits and the
   * headroom and price of the score; absent: those are not checked, and the price is a reference evaluation's.
   */
  resources?: ResourceRequest;
  /**
   * Clusters an earlier attempt of this evaluation left (unschedulable there, the cluster lost): left out while another
   * cluster fits (docs/multi-cluster.md, "Spill-over and failover"); absent in workflows started before re-selection.
   */
  avoid?: AvoidedCluster[];
}

/** A cluster an attempt left, and why (e.g. `attempt 1 unschedulable for 30 s`). */
export interface AvoidedCluster {
  name: string;
  reason: string;
}

/** The cluster chosen for an evaluation; recorded in history as the activity's result. */
export interface ClusterChoice {
  name: string;
  taskQueue: string;
  namespace: string;
  runtimeClassName: string | null;
  /** Why this cluster: the candidates considered and the reason for the choice. */
  reason: string;
  /** True when the team has a quota (docs/quota.md): the evaluation reserves before its first Job. */
  quota?: boolean;
  /** The isolation its attempts get on this cluster (docs/security.md). */
  security?: JobSecurity;
  /** What runs its attempts (src/executors); absent in choices made before there was a choice: Kubernetes. */
  executor?: ExecutorKind;
  /**
   * Every cluster that fitted, best first, with its score and terms (docs/multi-cluster.md, "Selection"); absent in
   * choices made before scoring.
   */
  candidates?: Candidate[];
  /** Every cluster left out, and why; absent in choices made before scoring. */
  excluded?: Exclusion[];
  /**
   * The worker's `placement.unschedulableSeconds` and `placement.lostClusterSeconds` (docs/multi-cluster.md), for the
   * attempts on this cluster; absent in choices made before spill-over: no spill-over, a 10-minute lost-worker bound.
   */
  unschedulableSeconds?: number;
  lostClusterSeconds?: number;
}

export interface ClusterActivities {
  /** @throws ApplicationFailure `NoClusterAvailable` (not retryable) when no cluster satisfies the requirements. */
  selectCluster(requirements: ClusterRequirements): Promise<ClusterChoice>;
}

export interface AttemptRef {
  namespace: string;
  evaluationId: string;
  attempt: number;
}

/** Input of the wait: the attempt, and the spec's timeout, enforced from the main container's start. */
export interface AwaitAttemptInput extends AttemptRef {
  timeoutSeconds?: number;
  /**
   * When set, a pod the scheduler has found no node for during this many seconds (from its `PodScheduled` condition's
   * `lastTransitionTime`) ends the attempt as `Infrastructure`/`Unschedulable` (docs/multi-cluster.md, "Spill-over
   * and failover"); absent: such a pod is waited for.
   */
  unschedulableSeconds?: number;
  /**
   * When set, the cluster's API server not answering for this many seconds ends the attempt as
   * `Infrastructure`/`ClusterUnreachable`; absent: the wait waits for it.
   */
  lostClusterSeconds?: number;
}

export interface CreateJobResult {
  job: string;
  /** False when the Job already existed with our labels (a retried create). */
  created: boolean;
}

export interface CleanupResult {
  jobDeleted: boolean;
  finalizersRemoved: number;
}

export interface JobActivities {
  /**
   * Creates the Job of one attempt; idempotent.
   * @throws ApplicationFailure `JobNameConflict` when a Job of that name exists without our labels,
   *   `JobRejected` when the API server refuses the object.
   */
  createJob(request: JobRequest): Promise<CreateJobResult>;
  /** Waits (watching, heartbeating) until the attempt's main container has ended, and classifies the end. */
  awaitAttempt(input: AwaitAttemptInput): Promise<AttemptEnd>;
  /** Deletes the attempt's Job and removes our finalizer from its pods. Idempotent. */
  cleanupAttempt(input: AttemptRef): Promise<CleanupResult>;
}

/** Input of the log capture: the attempt, and the spec's extra rules for grouping lines into events. */
export interface LogCaptureInput extends AttemptRef {
  multiline?: MultilineRules;
}

export interface LogActivities {
  /**
   * Captures the log of the attempt's main container into object storage while it runs (started alongside the wait)
   * and returns once the container has ended and everything is stored; null when the container never started.
   * Cancelled by the workflow, it stops following, stores what the log holds and returns.
   */
  storeAttemptLogs(input: LogCaptureInput): Promise<AttemptLogs | null>;
}

export interface RecordActivities {
  /** Writes `evaluations/<id>/record.json` (the output joined with the workflow's input spec); idempotent. */
  writeRecord(record: EvaluationOutput): Promise<{
    key: string;
    bytes: number;
    cost?: EvaluationCost | null;
    /** Set when this evaluation took its team over its monthly budget (the `overBudget` webhook event). */
    overBudget?: OverBudgetEvent | null;
  }>;
}

/** Activities served on the `assay` task queue (no cluster credentials needed). */
export type CentralActivities = ClusterActivities & RecordActivities;
/** Activities served on `assay-cluster-<name>`. */
export type ClusterQueueActivities = JobActivities & LogActivities;
