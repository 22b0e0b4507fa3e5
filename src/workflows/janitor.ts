/**
 * `janitor`: run by the `<queue>-janitor` Temporal Schedule (docs/kubernetes.md, "The janitor"); sweeps each named
 * cluster on that cluster's task queue, then the object store's multipart uploads on this workflow's own queue, and
 * returns what was fixed.
 */
import { patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { JanitorActivities, JanitorSweepInput, JanitorUploadActivities } from '../activities/janitor.js';
import type { SweepReport } from '../janitor/sweep.js';
import type { UploadSweepReport } from '../janitor/uploads.js';

export interface JanitorInput extends Omit<JanitorSweepInput, 'dryRun'> {
  /** The clusters to sweep (the worker's registry when the schedule was made). */
  readonly clusters: readonly string[];
  readonly dryRun?: boolean;
  /** Only the uploads under this prefix (tests); `evaluations/` by default. */
  readonly uploadPrefix?: string;
}

export interface JanitorResult {
  /** Per cluster name. */
  readonly clusters: Record<string, SweepReport>;
  /** The multipart uploads; null in runs started before the janitor swept them. */
  readonly uploads: UploadSweepReport | null;
}

/** The patch that added the upload sweep: runs recorded before it replay without it. */
export const janitorUploadsPatch = 'janitor-multipart-uploads';

const retry = { initialInterval: '10 seconds', maximumInterval: '2 minutes', maximumAttempts: 3 } as const;

export async function janitor(input: JanitorInput): Promise<JanitorResult> {
  const clusters: Record<string, SweepReport> = {};
  const common = {
    dryRun: input.dryRun ?? false,
    ...(input.minAgeSeconds !== undefined ? { minAgeSeconds: input.minAgeSeconds } : {}),
  };
  for (const cluster of input.clusters) {
    const { janitorSweep } = proxyActivities<JanitorActivities>({
      // The cluster queue of this workflow's queue (src/spec/names.ts, clusterTaskQueue).
      taskQueue: `${workflowInfo().taskQueue}-cluster-${cluster}`,
      startToCloseTimeout: '10 minutes',
      scheduleToStartTimeout: '10 minutes',
      retry,
    });
    clusters[cluster] = await janitorSweep({
      ...common,
      ...(input.namespace !== undefined ? { namespace: input.namespace } : {}),
    });
  }
  let uploads: UploadSweepReport | null = null;
  if (patched(janitorUploadsPatch)) {
    const { janitorSweepUploads } = proxyActivities<JanitorUploadActivities>({
      startToCloseTimeout: '10 minutes',
      retry,
    });
    uploads = await janitorSweepUploads({
      ...common,
      ...(input.uploadPrefix !== undefined ? { prefix: input.uploadPrefix } : {}),
    });
  }
  return { clusters, uploads };
}
