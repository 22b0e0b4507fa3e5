/**
 * `janitor`: run by the `<queue>-janitor` Temporal Schedule (docs/kubernetes.md, "The janitor"); sweeps each named
 * cluster on that cluster's task queue and returns what was fixed.
 */
import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { JanitorActivities, JanitorSweepInput } from '../activities/janitor.js';
import type { SweepReport } from '../janitor/sweep.js';

export interface JanitorInput extends Omit<JanitorSweepInput, 'dryRun'> {
  /** The clusters to sweep (the worker's registry when the schedule was made). */
  readonly clusters: readonly string[];
  readonly dryRun?: boolean;
}

export async function janitor(input: JanitorInput): Promise<Record<string, SweepReport>> {
  const reports: Record<string, SweepReport> = {};
  for (const cluster of input.clusters) {
    const { janitorSweep } = proxyActivities<JanitorActivities>({
      // The cluster queue of this workflow's queue (src/spec/names.ts, clusterTaskQueue).
      taskQueue: `${workflowInfo().taskQueue}-cluster-${cluster}`,
      startToCloseTimeout: '10 minutes',
      scheduleToStartTimeout: '10 minutes',
      retry: { initialInterval: '10 seconds', maximumInterval: '2 minutes', maximumAttempts: 3 },
    });
    reports[cluster] = await janitorSweep({
      dryRun: input.dryRun ?? false,
      ...(input.minAgeSeconds !== undefined ? { minAgeSeconds: input.minAgeSeconds } : {}),
      ...(input.namespace !== undefined ? { namespace: input.namespace } : {}),
    });
  }
  return reports;
}
