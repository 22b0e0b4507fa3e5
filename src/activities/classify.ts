/**
 * Classifies how an attempt ended from what Kubernetes reports about its pod (docs/architecture.md, "The evaluation workflow",
 * step 6). Pure: the wait activity feeds it every pod state it sees, and it answers `null` while the attempt runs.
 */
import type { V1ContainerStatus, V1Job, V1Pod, V1PodCondition } from '@kubernetes/client-node';
import type { AttemptEnd, AttemptEndKind } from '../spec/record.js';
import { mainContainerName } from './job-manifest.js';

/**
 * Waiting reasons that mean the pod can never start as specified: the image is missing or invalid, or the container
 * cannot be created from the spec. Seen within seconds of scheduling, so the evaluation fails fast.
 */
export const configurationWaitingReasons: ReadonlySet<string> = new Set([
  'ErrImageNeverPull',
  'ErrImagePull',
  'ImagePullBackOff',
  'InvalidImageName',
  'CreateContainerConfigError',
  'CreateContainerError',
  'RunContainerError',
]);

/** Terminated reasons that mean the runtime could not start the command (e.g. executable not found). */
export const configurationTerminatedReasons: ReadonlySet<string> = new Set([
  'StartError',
  'ContainerCannotRun',
]);

/** Pod-level reasons set when the node or the cluster took the pod away: not the evaluation's fault. */
export const infrastructurePodReasons: ReadonlySet<string> = new Set([
  'Evicted',
  'Preempting',
  'NodeLost',
  'NodeShutdown',
  'Shutdown',
  'Terminated',
  'UnexpectedAdmissionError',
  'OutOfcpu',
  'OutOfmemory',
  'OutOfpods',
]);

/**
 * The kubelet's eviction messages for a pod over its own ephemeral-storage limits (a container's limit, the pod's
 * total, an emptyDir's `sizeLimit`): the evaluation's doing, not the node's, so it fails instead of being retried.
 * Evictions for node pressure say "The node was low on resource" and stay infrastructure.
 */
const storageLimitEviction =
  /exceeds the total limit of containers|exceeded its local ephemeral storage limit|Usage of EmptyDir volume .* exceeds the limit/;

/**
 * What shells and runtimes print when `fork`/`clone` fails with EAGAIN: the pod's process limit (`podPidsLimit`) is
 * reached, as a fork bomb reaches it. Read from the termination message (the log's tail for a failed container).
 */
const processLimitOutput =
  /can't fork|fork: retry|fork: Resource temporarily unavailable|Cannot fork|BlockingIOError: \[Errno 11\]|pthread_create failed: Resource temporarily unavailable/;

/** The end of an attempt evicted for outgrowing its own storage limits, or null for any other pod. */
function storageExceeded(pod: V1Pod): { message: string } | null {
  const message = pod.status?.message ?? '';
  const conditionMessage =
    (pod.status?.conditions ?? []).find((c) => c.type === 'DisruptionTarget' && c.status === 'True')?.message ?? '';
  const evicted = pod.status?.reason === 'Evicted' || conditionMessage !== '';
  const text = [message, conditionMessage].find((m) => storageLimitEviction.test(m));
  return evicted && text !== undefined ? { message: text.trim() } : null;
}

/** The maximum number of characters of a termination message kept in the attempt's end. */
export const terminationMessageLimit = 4096;

function mainStatus(pod: V1Pod): V1ContainerStatus | undefined {
  return pod.status?.containerStatuses?.find((c) => c.name === mainContainerName);
}

/**
 * A container timestamp as ISO text; null when unknown. The Unix epoch counts as unknown: a container that exits
 * before its runtime records the start is reported with a zero start time, which the kubelet passes on as
 * 1970-01-01T00:00:00Z (taken at face value it made a one-second evaluation 56 years long).
 */
function iso(value: Date | string | undefined): string | null {
  if (value === undefined) return null;
  const at = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(at.getTime()) || at.getTime() <= 0) return null;
  return at.toISOString();
}

function parseResult(message: string | null): AttemptEnd['result'] {
  if (message === null || message.trim() === '') return null;
  try {
    return JSON.parse(message) as AttemptEnd['result'];
  } catch {
    return null;
  }
}

/** True when the container ended because someone asked for the pod to be deleted. */
function killedByDeletion(pod: V1Pod, finishedAt: string | null): boolean {
  const deletion = pod.metadata?.deletionTimestamp;
  if (deletion === undefined) return false;
  if (finishedAt === null) return true;
  const grace = pod.metadata?.deletionGracePeriodSeconds ?? 0;
  const requestedAt = new Date(deletion).getTime() - grace * 1000;
  // Timestamps have one-second precision: allow that much skew.
  return new Date(finishedAt).getTime() >= requestedAt - 1000;
}

function jobDeadlineExceeded(job: V1Job | undefined): boolean {
  return (job?.status?.conditions ?? []).some(
    (c) => c.type === 'Failed' && c.status === 'True' && c.reason === 'DeadlineExceeded',
  );
}

function disruption(pod: V1Pod): { reason: string; message: string | null } | null {
  const condition = (pod.status?.conditions ?? []).find(
    (c) => c.type === 'DisruptionTarget' && c.status === 'True',
  );
  if (condition !== undefined)
    return { reason: condition.reason ?? 'DisruptionTarget', message: condition.message ?? null };
  const reason = pod.status?.reason;
  if (reason !== undefined && infrastructurePodReasons.has(reason)) {
    return { reason, message: pod.status?.message ?? null };
  }
  return null;
}

/**
 * True when the pod's deletion was requested once the main container had run its `timeoutSeconds`: the wait activity
 * deletes it then. Derived from the pod alone, so a retried wait (after a worker crash) judges the same way.
 */
function deletedAtDeadline(
  pod: V1Pod,
  startedAt: string | null,
  timeoutSeconds: number | undefined,
): boolean {
  const deletion = pod.metadata?.deletionTimestamp;
  if (deletion === undefined || startedAt === null || timeoutSeconds === undefined) return false;
  const requestedAt = new Date(deletion).getTime() - (pod.metadata?.deletionGracePeriodSeconds ?? 0) * 1000;
  // startedAt has one-second precision: allow that much.
  return requestedAt >= new Date(startedAt).getTime() + timeoutSeconds * 1000 - 1000;
}

/**
 * How the attempt whose pod is `pod` ended, or `null` while it has not ended.
 *
 * @param pod the latest state of the attempt's pod
 * @param job the latest state of the attempt's Job, when known (it tells a Job-level deadline apart from a deletion)
 * @param timeoutSeconds the spec's timeout, when known: a deletion at or after it is the timeout, not a loss
 */
export function classifyPod(pod: V1Pod, job?: V1Job, timeoutSeconds?: number): AttemptEnd | null {
  const status = mainStatus(pod);
  const podName = pod.metadata?.name ?? null;
  const end = (
    kind: AttemptEndKind,
    reason: string | null,
    message: string | null,
    extra: Partial<AttemptEnd> = {},
  ): AttemptEnd => ({
    kind,
    pod: podName,
    exitCode: null,
    reason,
    message,
    startedAt: iso(status?.state?.running?.startedAt ?? status?.state?.terminated?.startedAt),
    finishedAt: iso(status?.state?.terminated?.finishedAt),
    result: null,
    terminationMessage: null,
    ...extra,
  });

  const waiting = status?.state?.waiting;
  if (waiting?.reason !== undefined && configurationWaitingReasons.has(waiting.reason)) {
    return end('Configuration', waiting.reason, waiting.message ?? null);
  }

  const terminated = status?.state?.terminated;
  const phase = pod.status?.phase;
  const storage = storageExceeded(pod);
  if (terminated === undefined) {
    if (storage !== null && (phase === 'Failed' || pod.metadata?.deletionTimestamp !== undefined)) {
      return end('Failed', 'EphemeralStorageExceeded', storage.message);
    }
    if (pod.status?.reason === 'DeadlineExceeded' && phase === 'Failed') {
      return end('TimedOut', 'DeadlineExceeded', pod.status.message ?? null);
    }
    const disrupted = disruption(pod);
    if (disrupted !== null && (phase === 'Failed' || pod.metadata?.deletionTimestamp !== undefined)) {
      return end('Infrastructure', disrupted.reason, disrupted.message);
    }
    if (pod.metadata?.deletionTimestamp !== undefined && status?.state?.running === undefined) {
      if (jobDeadlineExceeded(job))
        return end('TimedOut', 'DeadlineExceeded', 'the Job exceeded its deadline');
      return end('Infrastructure', 'PodDeleted', 'the pod was deleted before its container ran');
    }
    if (phase === 'Failed') {
      return end('Infrastructure', pod.status?.reason ?? 'PodFailed', pod.status?.message ?? null);
    }
    return null;
  }

  const exitCode = terminated.exitCode;
  const finishedAt = iso(terminated.finishedAt);
  const raw = terminated.message ?? null;
  const terminationMessage = raw === null ? null : raw.slice(0, terminationMessageLimit);
  const extra: Partial<AttemptEnd> = {
    exitCode,
    finishedAt,
    terminationMessage,
    result: parseResult(terminationMessage),
  };
  const terminatedReason = terminated.reason ?? null;

  // A main container that exited 0 finished its work, whatever deadline the pod (kept alive by the collector) met.
  if (exitCode !== 0 && deletedAtDeadline(pod, iso(terminated.startedAt), timeoutSeconds)) {
    return end(
      'TimedOut',
      'DeadlineExceeded',
      `the evaluation exceeded its timeout of ${timeoutSeconds} s and was stopped`,
      extra,
    );
  }
  if (exitCode !== 0 && (pod.status?.reason === 'DeadlineExceeded' || jobDeadlineExceeded(job))) {
    return end(
      'TimedOut',
      'DeadlineExceeded',
      pod.status?.message ?? 'the evaluation exceeded its timeout',
      extra,
    );
  }
  if (storage !== null) return end('Failed', 'EphemeralStorageExceeded', storage.message, extra);
  const disrupted = disruption(pod);
  if (disrupted !== null) return end('Infrastructure', disrupted.reason, disrupted.message, extra);
  if (killedByDeletion(pod, finishedAt)) {
    return end('Infrastructure', 'PodDeleted', 'the pod was deleted while the evaluation ran', extra);
  }
  if (terminatedReason !== null && configurationTerminatedReasons.has(terminatedReason)) {
    return end('Configuration', terminatedReason, terminationMessage, extra);
  }
  if (terminatedReason === 'OOMKilled') {
    return end('Failed', 'OOMKilled', 'the container exceeded its memory limit', extra);
  }
  if (exitCode === 0) return end('Succeeded', terminatedReason ?? 'Completed', null, extra);
  if (terminationMessage !== null && processLimitOutput.test(terminationMessage)) {
    return end(
      'Failed',
      'ProcessLimitReached',
      `the container exited with code ${exitCode} after it could not start another process: it reached the pod's process limit`,
      extra,
    );
  }
  return end('Failed', terminatedReason ?? 'Error', `the container exited with code ${exitCode}`, extra);
}

/** The end of an attempt whose pod vanished without a trace (deleted despite the finalizer, or never created). */
export function podVanished(podName: string | null, reason: string, message: string): AttemptEnd {
  return infrastructureEnd(podName, reason, message);
}

/** An infrastructure end that saw no container of the attempt's pod end: no exit code, no times, no result. */
function infrastructureEnd(podName: string | null, reason: string, message: string): AttemptEnd {
  return {
    kind: 'Infrastructure',
    pod: podName,
    exitCode: null,
    reason,
    message,
    startedAt: null,
    finishedAt: null,
    result: null,
    terminationMessage: null,
  };
}

/** The pod's `PodScheduled` condition when the scheduler has found no node for it (`False`, `Unschedulable`). */
function unschedulableCondition(pod: V1Pod): V1PodCondition | null {
  if (pod.spec?.nodeName !== undefined || pod.metadata?.deletionTimestamp !== undefined) return null;
  const condition = (pod.status?.conditions ?? []).find((c) => c.type === 'PodScheduled');
  return condition?.status === 'False' && condition.reason === 'Unschedulable' ? condition : null;
}

/**
 * Since when (epoch ms) the scheduler has found no node for the pod: its `PodScheduled` condition's
 * `lastTransitionTime` while that condition is `False` for `Unschedulable` and the pod has no node (and is not being
 * deleted); null otherwise. Derived from the pod alone, so a retried wait (after a worker crash) arms the same
 * deadline. A condition without a transition time counts from the pod's creation.
 */
export function unschedulableSince(pod: V1Pod): number | null {
  const condition = unschedulableCondition(pod);
  if (condition === null) return null;
  const at = condition.lastTransitionTime ?? pod.metadata?.creationTimestamp;
  if (at === undefined) return null;
  const ms = new Date(at).getTime();
  return Number.isNaN(ms) ? null : ms;
}

/**
 * The end of an attempt whose pod the scheduler could place on no node for `unschedulableSeconds` (the wait's
 * `unschedulableSeconds`), or null when the pod is not (or no longer) unschedulable for that long at `now`. An
 * infrastructure end: the evaluation may fit another cluster.
 */
export function podUnschedulable(pod: V1Pod, unschedulableSeconds: number, now: number): AttemptEnd | null {
  const since = unschedulableSince(pod);
  if (since === null || now - since < unschedulableSeconds * 1000) return null;
  const scheduler = unschedulableCondition(pod)?.message?.trim();
  const seconds = Math.floor((now - since) / 1000);
  return infrastructureEnd(
    pod.metadata?.name ?? null,
    'Unschedulable',
    `${scheduler !== undefined && scheduler !== '' ? scheduler : 'no node can run the pod'}; unschedulable for ${seconds} s`,
  );
}

/**
 * The end of an attempt whose cluster's API server has not answered for `unreachableMs`: whatever its pod does, the
 * wait cannot see it. An infrastructure end.
 */
export function clusterUnreachable(
  podName: string | null,
  unreachableMs: number,
  lastError: string | null,
): AttemptEnd {
  return infrastructureEnd(
    podName,
    'ClusterUnreachable',
    `the cluster's API server has not answered for ${Math.floor(unreachableMs / 1000)} s (last error: ${lastError ?? 'unknown'})`,
  );
}
