/**
 * What the cluster itself says about one evaluation, for tests that must prove what happened in Kubernetes rather
 * than what the workflow's history or record claims: every Job and pod carrying the evaluation's
 * `assay.dev/evaluation-id` label (see `src/spec/record.ts` labelKeys), in any namespace, watched through the API
 * server from before the evaluation starts until the test stops looking. A Job deleted and created again under the
 * same name shows up as two Jobs (two uids), which a fixed Job name in the record never would.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { KubeClients } from '../../src/kube/clients.js';
import { watchUntil } from '../../src/kube/watch.js';
import { labelKeys } from '../../src/spec/kube-labels.js';
import { waitFor } from './wait-for.js';

/** A Job of the evaluation as the API server showed it. */
export interface ObservedJob {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  /** Its `assay.dev/attempt` label. */
  readonly attempt: string | undefined;
  /** A DELETED event was seen. */
  deleted: boolean;
}

/** A pod of the evaluation as the API server showed it. */
export interface ObservedPod {
  readonly uid: string;
  readonly namespace: string;
  readonly name: string;
  readonly attempt: string | undefined;
  /** The container `main` was seen running at least once. */
  mainRanSeen: boolean;
  /** The container `main` runs in the latest state seen. */
  mainRunning: boolean;
  /** `status.phase` in the latest state seen. */
  phase: string | undefined;
  deleted: boolean;
}

export interface EvaluationObserver {
  /** Every distinct Job (by uid) seen so far. */
  jobs(): ObservedJob[];
  /** Every distinct pod (by uid) seen so far. */
  pods(): ObservedPod[];
  /**
   * Why the observation may have missed something: a watch that had to list again (410 Gone) or failed. Tests
   * that count assert this is empty, so a lost event can never make a count look right by chance.
   */
  gaps(): string[];
  /** Waits until the API server shows `main` of a pod of `attempt` running; resolves with that pod. */
  runningPod(attempt: number, timeoutMs: number): Promise<ObservedPod>;
  /** Stops watching. */
  stop(): void;
}

/** The label selector of everything Assay creates for `evaluationId`. */
export function evaluationSelector(evaluationId: string): string {
  return `${labelKeys.evaluationId}=${evaluationId}`;
}

function mainRunning(pod: V1Pod): boolean {
  return (
    pod.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running !== undefined) ?? false
  );
}

/**
 * Starts watching the Jobs and pods of `evaluationId` in every namespace; resolves once both watches have listed, so
 * whatever is created after it resolves is seen. Call it before starting the evaluation and `stop` it in `finally`.
 */
export async function observeEvaluation(
  kube: KubeClients,
  evaluationId: string,
): Promise<EvaluationObserver> {
  const labelSelector = evaluationSelector(evaluationId);
  const controller = new AbortController();
  const jobs = new Map<string, ObservedJob>();
  const pods = new Map<string, ObservedPod>();
  const gaps: string[] = [];

  function onJob(job: V1Job, type: string): null {
    const uid = job.metadata?.uid;
    if (uid === undefined) return null;
    const seen = jobs.get(uid) ?? {
      uid,
      namespace: job.metadata?.namespace ?? '',
      name: job.metadata?.name ?? '',
      attempt: job.metadata?.labels?.[labelKeys.attempt],
      deleted: false,
    };
    if (type === 'DELETED') seen.deleted = true;
    jobs.set(uid, seen);
    return null;
  }

  function onPod(pod: V1Pod, type: string): null {
    const uid = pod.metadata?.uid;
    if (uid === undefined) return null;
    const seen = pods.get(uid) ?? {
      uid,
      namespace: pod.metadata?.namespace ?? '',
      name: pod.metadata?.name ?? '',
      attempt: pod.metadata?.labels?.[labelKeys.attempt],
      mainRanSeen: false,
      mainRunning: false,
      phase: undefined,
      deleted: false,
    };
    seen.mainRunning = type !== 'DELETED' && mainRunning(pod);
    seen.mainRanSeen ||= seen.mainRunning;
    seen.phase = pod.status?.phase;
    if (type === 'DELETED') seen.deleted = true;
    pods.set(uid, seen);
    return null;
  }

  /** Runs one watch until stopped; resolves `listed` after its first list. */
  function run<T extends V1Job | V1Pod>(
    what: string,
    path: string,
    list: () => Promise<{ items: T[]; resourceVersion: string }>,
    decide: (object: T, type: string) => null,
  ): Promise<void> {
    let lists = 0;
    return new Promise<void>((listed, failed) => {
      watchUntil<T, never>(kube.watch, { path, query: { labelSelector }, list }, decide, {
        signal: controller.signal,
        onRelist: () => {
          lists++;
          if (lists > 1) gaps.push(`the ${what} watch listed again: events in between may be lost`);
        },
        onResourceVersion: () => listed(),
        reconnectDelayMs: 200,
      }).catch((err: unknown) => {
        if (controller.signal.aborted) return;
        gaps.push(`the ${what} watch failed: ${err instanceof Error ? err.message : String(err)}`);
        failed(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  try {
    await Promise.all([
      run<V1Job>(
        'Job',
        '/apis/batch/v1/jobs',
        async () => {
          const list = await kube.batch.listJobForAllNamespaces({ labelSelector });
          return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
        },
        onJob,
      ),
      run<V1Pod>(
        'pod',
        '/api/v1/pods',
        async () => {
          const list = await kube.core.listPodForAllNamespaces({ labelSelector });
          return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
        },
        onPod,
      ),
    ]);
  } catch (err) {
    controller.abort();
    throw err;
  }

  return {
    jobs: () => [...jobs.values()],
    pods: () => [...pods.values()],
    gaps: () => [...gaps],
    runningPod: (attempt, timeoutMs) =>
      waitFor(() => [...pods.values()].find((p) => p.attempt === String(attempt) && p.mainRunning), {
        timeoutMs,
        what: `the API server to show main of a pod of ${evaluationId} attempt ${attempt} running`,
        intervalMs: 100,
      }),
    stop: () => controller.abort(),
  };
}

/**
 * Waits until the API server lists no Job and no pod of `evaluationId` in any namespace (a pod held by a finalizer
 * counts as left); resolves with nothing, or fails naming what is left at the deadline.
 */
export async function waitUntilGone(
  kube: KubeClients,
  evaluationId: string,
  timeoutMs: number,
): Promise<void> {
  const labelSelector = evaluationSelector(evaluationId);
  let left: string[] = [];
  try {
    await waitFor(
      async () => {
        const [jobs, pods] = await Promise.all([
          kube.batch.listJobForAllNamespaces({ labelSelector }),
          kube.core.listPodForAllNamespaces({ labelSelector }),
        ]);
        left = [
          ...jobs.items.map((j) => `job/${j.metadata?.name}`),
          ...pods.items.map(
            (p) => `pod/${p.metadata?.name} finalizers=${JSON.stringify(p.metadata?.finalizers)}`,
          ),
        ];
        return left.length === 0;
      },
      { timeoutMs, what: `no Job or pod of ${evaluationId} left` },
    );
  } catch (err) {
    throw new Error(`${err instanceof Error ? err.message : String(err)}; left: ${left.join(', ')}`);
  }
}
