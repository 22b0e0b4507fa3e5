/**
 * What the controller derives from an EvaluationJob resource, pure and unit-tested (docs/kubernetes.md, "The
 * controller"): the evaluation id (from namespace, name and uid, so a deleted and re-created resource is a new
 * evaluation), the manifest it starts, and the small `status` it writes back from the workflow's status or record.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto';
import type { EvaluationOutput, EvaluationStatus, Outcome, Phase } from '../spec/record.js';
import type { EvaluationJobCondition, EvaluationJobStatus } from '../spec/evaluation-job-status.js';
import { specLimits } from '../spec/spec-constants.js';

export const evaluationJobGroup = 'assay.dev';
export const evaluationJobVersion = 'v1';
export const evaluationJobPlural = 'evaluationjobs';
/** The finalizer that keeps a resource until its evaluation has been cancelled and cleaned up. */
export const evaluationFinalizer = 'assay.dev/evaluation';
/** Memo key of the evaluations the controller starts: `<namespace>/<name>` of the resource (and its uid). */
export const resourceMemoKey = 'assay.dev/evaluation-job';

/** The fields of an EvaluationJob the controller reads. */
export interface EvaluationJobResource {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    generation?: number;
    resourceVersion?: string;
    labels?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: Date;
  };
  spec?: Record<string, unknown>;
  status?: EvaluationJobStatus;
}

/** `namespace/name`, the work queue's key. */
export function resourceKey(resource: EvaluationJobResource): string {
  return `${resource.metadata?.namespace ?? ''}/${resource.metadata?.name ?? ''}`;
}

const hashLength = 10;

/**
 * The evaluation id of a resource: its name made a DNS label (cut so the id stays within the id's length), `-`, and
 * 10 hex digits of sha256(namespace/name/uid). Deterministic, so every controller replica derives the same id (the
 * idempotency key), and new for a re-created resource (another uid).
 */
export function evaluationIdForResource(namespace: string, name: string, uid: string): string {
  const digest = createHash('sha256')
    .update(`${namespace}/${name}/${uid}`)
    .digest('hex')
    .slice(0, hashLength);
  const stem = name
    .toLowerCase()
    .replace(/[^a-z0-9-]/g, '-')
    .slice(0, specLimits.nameLength - hashLength - 1)
    .replace(/-+$/, '');
  return stem === '' ? `ej-${digest}` : `${stem}-${digest}`;
}

/** The manifest `AssayClient.start` takes for a resource: its spec (stored normalised by the webhook) and labels. */
export function manifestOf(resource: EvaluationJobResource, evaluationId: string): Record<string, unknown> {
  const labels = resource.metadata?.labels;
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    metadata: { name: evaluationId, ...(labels && Object.keys(labels).length > 0 ? { labels } : {}) },
    spec: resource.spec ?? {},
  };
}

/** Condition types the controller sets. */
export const conditionTypes = {
  /** True once the evaluation was started; False (with why) while it cannot be. */
  started: 'Started',
  /** True once the evaluation has ended, whatever the outcome. */
  completed: 'Completed',
  /** True when it ended Succeeded, False for any other outcome. */
  succeeded: 'Succeeded',
} as const;

export interface ConditionInput {
  readonly type: string;
  readonly status: 'True' | 'False' | 'Unknown';
  readonly reason: string;
  readonly message: string;
}

/**
 * Sets a condition in a list, Kubernetes style: `lastTransitionTime` moves only when `status` changes, so a rewrite of
 * the same condition is no change.
 */
export function setCondition(
  conditions: readonly EvaluationJobCondition[] | undefined,
  input: ConditionInput,
  generation: number | undefined,
  now: Date,
): EvaluationJobCondition[] {
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: EvaluationJobCondition = {
    type: input.type,
    status: input.status,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    lastTransitionTime:
      previous !== undefined && previous.status === input.status
        ? previous.lastTransitionTime
        : now.toISOString(),
    reason: input.reason,
    message: input.message.slice(0, 2000),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

/** The parts of a status the workflow decides (the evaluation's own view of itself). */
interface Progress {
  readonly phase: Phase;
  readonly outcome: Outcome | null;
  readonly reason: string | null;
  readonly exitCode: number | null;
  readonly attempt: number;
  readonly queuePosition: number | null;
  readonly recordKey: string;
  readonly startedAt: string | null;
  readonly finishedAt: string | null;
}

function lastExitCode(attempts: readonly { exitCode: number | null }[]): number | null {
  for (let i = attempts.length - 1; i >= 0; i--) {
    const code = attempts[i]?.exitCode;
    if (code !== null && code !== undefined) return code;
  }
  return null;
}

/** Progress from the workflow's `status` query. */
export function progressOfStatus(status: EvaluationStatus): Progress {
  return {
    phase: status.phase,
    outcome: status.outcome,
    reason: status.reason,
    exitCode: lastExitCode(status.attempts),
    attempt: status.attempt,
    queuePosition: status.phase === 'Queued' ? (status.queuePosition ?? null) : null,
    recordKey: status.recordKey,
    startedAt: status.timings.startedAt,
    finishedAt: status.timings.finishedAt,
  };
}

/** Progress from the record (the workflow's result). */
export function progressOfRecord(record: EvaluationOutput, recordKey: string): Progress {
  return {
    phase: 'Completed',
    outcome: record.outcome,
    reason: record.reason,
    exitCode: record.exitCode,
    attempt: record.attempts.length,
    queuePosition: null,
    recordKey,
    startedAt: record.timings.startedAt,
    finishedAt: record.timings.finishedAt,
  };
}

/**
 * The status of a resource given its evaluation's progress: the fields from the progress, conditions updated from the
 * resource's current ones. Fields the progress does not know are left out (a merge patch of the whole status
 * replaces them, so a stale `queuePosition` disappears once the evaluation is admitted).
 */
export function statusFromProgress(
  resource: EvaluationJobResource,
  evaluationId: string,
  progress: Progress,
  now: Date,
): EvaluationJobStatus {
  const generation = resource.metadata?.generation;
  let conditions = setCondition(
    resource.status?.conditions,
    {
      type: conditionTypes.started,
      status: 'True',
      reason: 'EvaluationStarted',
      message: `evaluation ${evaluationId} started`,
    },
    generation,
    now,
  );
  if (progress.outcome !== null) {
    const detail = progress.reason !== null ? ` (${progress.reason})` : '';
    conditions = setCondition(
      conditions,
      {
        type: conditionTypes.completed,
        status: 'True',
        reason: progress.outcome,
        message: `evaluation ${evaluationId} ended ${progress.outcome}${detail}`,
      },
      generation,
      now,
    );
    conditions = setCondition(
      conditions,
      {
        type: conditionTypes.succeeded,
        status: progress.outcome === 'Succeeded' ? 'True' : 'False',
        reason: progress.outcome,
        message:
          progress.outcome === 'Succeeded'
            ? 'the evaluation succeeded'
            : `ended ${progress.outcome}${detail}`,
      },
      generation,
      now,
    );
  }
  return {
    phase: progress.phase,
    ...(progress.outcome !== null ? { outcome: progress.outcome } : {}),
    ...(progress.reason !== null ? { reason: progress.reason.slice(0, 1024) } : {}),
    ...(progress.exitCode !== null ? { exitCode: progress.exitCode } : {}),
    attempt: progress.attempt,
    ...(progress.queuePosition !== null ? { queuePosition: progress.queuePosition } : {}),
    evaluationId,
    recordKey: progress.recordKey,
    ...(progress.startedAt !== null ? { startedAt: progress.startedAt } : {}),
    ...(progress.finishedAt !== null ? { finishedAt: progress.finishedAt } : {}),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
  };
}

/** The status of a resource whose evaluation could not be started (yet): a `Started=False` condition saying why. */
export function statusOfStartFailure(
  resource: EvaluationJobResource,
  evaluationId: string,
  failure: { readonly reason: string; readonly message: string },
  now: Date,
): EvaluationJobStatus {
  const generation = resource.metadata?.generation;
  return {
    ...(resource.status ?? {}),
    evaluationId,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: setCondition(
      resource.status?.conditions,
      { type: conditionTypes.started, status: 'False', ...failure },
      generation,
      now,
    ),
  };
}

/** True when the status says the evaluation has ended: nothing more to follow. */
export function isFinished(status: EvaluationJobStatus | undefined): boolean {
  return status?.phase === 'Completed' && status.outcome !== undefined;
}

/** True when the resource's evaluation was started (the status names it and says Started). */
export function isStarted(status: EvaluationJobStatus | undefined): boolean {
  return (
    status?.evaluationId !== undefined &&
    (status.conditions ?? []).some((c) => c.type === conditionTypes.started && c.status === 'True')
  );
}

/** JSON with sorted keys, to tell whether a status write would change anything. */
export function sameStatus(a: EvaluationJobStatus | undefined, b: EvaluationJobStatus): boolean {
  const canonical = (value: unknown): string =>
    JSON.stringify(value, (_k, v: unknown) =>
      v !== null && typeof v === 'object' && !Array.isArray(v)
        ? Object.fromEntries(
            Object.entries(v as Record<string, unknown>).sort(([x], [y]) => x.localeCompare(y)),
          )
        : v,
    );
  return a !== undefined && canonical(a) === canonical(b);
}

/** Retry delay of the n-th consecutive failure (from 1): 1 s doubling to at most 5 min, with ±20 % jitter. */
export function backoffMs(failures: number, random: () => number = Math.random): number {
  const base = Math.min(300_000, 1000 * 2 ** Math.max(0, failures - 1));
  return Math.round(base * (0.8 + 0.4 * random()));
}
