/**
 * The watches a cluster worker shares between its activities: one on the pods Assay made and one on the Jobs'
 * `FailedCreate` events, per namespace. The wait and the log capture of every attempt in a namespace subscribe to
 * them by key instead of listing and watching on their own.
 */
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import { listForWatch, type KubeClients } from '../kube/clients.js';
import { SharedWatches, type SharedWatch } from '../kube/shared-watch.js';
import { labelKeys, managedByValue } from '../spec/kube-labels.js';

/** Every pod Assay made. */
const managedSelector = `${labelKeys.managedBy}=${managedByValue}`;
/** The Job events that can mean a pod will never be admitted. */
const failedCreateSelector = 'involvedObject.kind=Job,reason=FailedCreate';

/** The subscription key of an attempt's pods. */
export function attemptKey(evaluationId: string, attempt: number): string {
  return `${evaluationId}/${attempt}`;
}

export interface AttemptWatches {
  /** Every Assay pod of `namespace`, keyed by {@link attemptKey}. */
  pods(namespace: string): SharedWatch<V1Pod>;
  /** The `FailedCreate` events of the Jobs of `namespace`, keyed by Job name. */
  jobEvents(namespace: string): SharedWatch<CoreV1Event>;
  /** Stops every watch (worker shutdown). */
  stopAll(): void;
}

export function createAttemptWatches(kube: Pick<KubeClients, 'core' | 'watch'>): AttemptWatches {
  const { core, watch } = kube;
  const watches = new SharedWatches();
  return {
    pods: (namespace) =>
      watches.get<V1Pod>(`pods/${namespace}`, () => ({
        watch,
        target: {
          path: `/api/v1/namespaces/${namespace}/pods`,
          query: { labelSelector: managedSelector },
          list: listForWatch(() => core.listNamespacedPod({ namespace, labelSelector: managedSelector })),
        },
        keyOf: (pod) => {
          const labels = pod.metadata?.labels ?? {};
          const id = labels[labelKeys.evaluationId];
          const attempt = labels[labelKeys.attempt];
          return id === undefined || attempt === undefined ? null : `${id}/${attempt}`;
        },
      })),
    jobEvents: (namespace) =>
      watches.get<CoreV1Event>(`job-events/${namespace}`, () => ({
        watch,
        target: {
          path: `/api/v1/namespaces/${namespace}/events`,
          query: { fieldSelector: failedCreateSelector },
          list: listForWatch(() =>
            core.listNamespacedEvent({ namespace, fieldSelector: failedCreateSelector }),
          ),
        },
        keyOf: (event) => event.involvedObject?.name ?? null,
      })),
    stopAll: () => watches.stopAll(),
  };
}
