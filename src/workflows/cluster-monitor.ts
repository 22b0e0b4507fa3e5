/**
 * `clusterMonitor`: the one workflow per worker task queue (id `cluster-monitor-<queue>`, started by the worker at
 * start-up) that keeps the shared view of every cluster's health and capacity (docs/multi-cluster.md, "Health and
 * capacity"). Every `placement.probeIntervalSeconds` it runs one `probeClusters` round; the `clusterView` query
 * answers the latest view (placement, metrics and `assay clusters` read it). After `placement.probesPerRun` rounds
 * (or when Temporal suggests it) it continues as new with the view, so each run's history stays small.
 */
import {
  continueAsNew,
  defineQuery,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { ClusterMonitorActivities } from '../activities/cluster-monitor.js';
import {
  clusterViewQueryName,
  mergeView,
  type ClusterMonitorInput,
  type ClusterViewAnswer,
} from '../placement/view.js';
import type { ClusterView } from '../placement/types.js';

export const clusterViewQuery = defineQuery<ClusterViewAnswer>(clusterViewQueryName);

/** Until the first round says otherwise. */
const defaultIntervalSeconds = 5;
const defaultProbesPerRun = 100;

const { probeClusters } = proxyActivities<ClusterMonitorActivities>({
  // Each request of a probe is bounded by `placement.probeTimeoutSeconds`; the round takes a few of them at most.
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '2 minutes',
  // The next round is the retry.
  retry: { maximumAttempts: 1 },
});

export async function clusterMonitor(input: ClusterMonitorInput = {}): Promise<void> {
  const carried = input.carried;
  let view: ClusterView = carried?.view ?? {};
  let updatedAt = carried?.updatedAt ?? null;
  let intervalSeconds = carried?.intervalSeconds ?? defaultIntervalSeconds;
  let probesPerRun = defaultProbesPerRun;
  let lastError: string | null = null;
  const generation = carried?.generation ?? 0;

  setHandler(clusterViewQuery, (): ClusterViewAnswer => ({
    view,
    updatedAt,
    intervalSeconds,
    lastError,
    generation,
  }));

  for (let round = 0; round < probesPerRun && !workflowInfo().continueAsNewSuggested; round++) {
    try {
      const result = await probeClusters();
      view = mergeView(view, result.view);
      updatedAt = result.probedAt;
      intervalSeconds = result.intervalSeconds;
      probesPerRun = result.probesPerRun;
      lastError = null;
    } catch (err) {
      // An ActivityFailure's own message says only that the activity failed; its cause says why.
      const cause = err instanceof Error && err.cause instanceof Error ? err.cause : err;
      lastError = cause instanceof Error ? cause.message : String(cause);
    }
    await sleep(intervalSeconds * 1000);
  }
  await continueAsNew<typeof clusterMonitor>({
    carried: { view, updatedAt, intervalSeconds, generation: generation + 1 },
  });
}
