/**
 * What runs at once, as the cluster shows it: a watch on pods (of one namespace, or of every namespace) that counts
 * the pods whose `main` container is running, and keeps the largest count seen. For tests that bound concurrency
 * (quota, batches) by the cluster's view rather than Assay's own bookkeeping.
 */
import type { V1Pod } from '@kubernetes/client-node';
import { listForWatch, type KubeClients } from '../../src/kube/clients.js';
import { watchUntil } from '../../src/kube/watch.js';

export interface RunningPodWatch {
  /** Most `main` containers seen running at the same moment. */
  maxRunning(): number;
  /** `main` containers running now. */
  running(): number;
  /** Distinct pods seen. */
  pods(): number;
  /** Why the counts may be incomplete (a relist or a failed watch); empty when every event was seen. */
  gaps(): string[];
  stop(): void;
}

/** Starts the watch; resolves once the initial list is in, so nothing that happens afterwards is missed. */
export async function watchRunningPods(
  kube: KubeClients,
  where: { namespace?: string; labelSelector: string },
): Promise<RunningPodWatch> {
  const { namespace, labelSelector } = where;
  const running = new Map<string, boolean>();
  const gaps: string[] = [];
  let max = 0;
  let lists = 0;
  const count = (): number => [...running.values()].filter(Boolean).length;
  const controller = new AbortController();
  await new Promise<void>((listed, failed) => {
    watchUntil<V1Pod, never>(
      kube.watch,
      {
        path: namespace === undefined ? '/api/v1/pods' : `/api/v1/namespaces/${namespace}/pods`,
        query: { labelSelector },
        list: listForWatch(() =>
          namespace === undefined
            ? kube.core.listPodForAllNamespaces({ labelSelector })
            : kube.core.listNamespacedPod({ namespace, labelSelector }),
        ),
      },
      (pod, type) => {
        const mainRuns =
          type !== 'DELETED' &&
          (pod.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running !== undefined) ??
            false);
        running.set(pod.metadata?.uid ?? pod.metadata?.name ?? '', mainRuns);
        max = Math.max(max, count());
        return null;
      },
      {
        signal: controller.signal,
        onRelist: () => {
          if (++lists > 1) gaps.push('the pod watch listed again: events in between may be lost');
        },
        onResourceVersion: () => listed(),
        reconnectDelayMs: 200,
      },
    ).catch((err: unknown) => {
      if (!controller.signal.aborted) {
        gaps.push(`the pod watch failed: ${String(err)}`);
        failed(err instanceof Error ? err : new Error(String(err)));
      }
    });
  });
  return {
    maxRunning: () => max,
    running: count,
    pods: () => running.size,
    gaps: () => [...gaps],
    stop: () => controller.abort(),
  };
}
