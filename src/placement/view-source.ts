/**
 * Reading the cluster monitor (docs/multi-cluster.md, "Health and capacity"): starting it once per task queue, its
 * `clusterView` query for `assay clusters`, and a cached view source for placement and metrics that tolerates a
 * monitor that is absent, not answering or stale by answering an empty view.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { ClusterView } from './types.js';
import {
  clusterMonitorWorkflowId,
  clusterMonitorWorkflowType,
  clusterViewQueryName,
  type ClusterMonitorInput,
  type ClusterViewAnswer,
} from './view.js';

/** No cluster monitor runs for the task queue (no worker serving workflows has started on it). */
export class ClusterMonitorNotRunningError extends Error {
  constructor(
    readonly taskQueue: string,
    options?: ErrorOptions,
  ) {
    super(
      `no cluster monitor runs for task queue ${taskQueue} (workflow ${clusterMonitorWorkflowId(taskQueue)}): ` +
        'a worker serving workflows on that queue starts it (npm run worker)',
      options,
    );
    this.name = 'ClusterMonitorNotRunningError';
  }
}

/**
 * Starts the monitor of `taskQueue` unless it runs already: a second worker (or a restarted one) finds it running and
 * starts none; one that has ended (terminated, failed) is started again. Resolves with what happened.
 */
export async function ensureClusterMonitor(
  client: Pick<Client, 'workflow'>,
  taskQueue: string,
): Promise<'started' | 'running'> {
  try {
    await client.workflow.start(clusterMonitorWorkflowType, {
      taskQueue,
      workflowId: clusterMonitorWorkflowId(taskQueue),
      args: [{} satisfies ClusterMonitorInput],
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    });
    return 'started';
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return 'running';
    throw err;
  }
}

/**
 * The monitor's answer, within `timeoutMs`. A closed monitor still answers queries (from its history); with
 * `requireRunning` it is first described, so a terminated or failed one is reported as not running.
 *
 * @throws {ClusterMonitorNotRunningError} when no monitor of `taskQueue` exists (or, with `requireRunning`, none runs).
 */
export async function queryClusterView(
  client: Pick<Client, 'workflow' | 'withDeadline'>,
  taskQueue: string,
  options: { timeoutMs?: number; requireRunning?: boolean } = {},
): Promise<ClusterViewAnswer> {
  const handle = client.workflow.getHandle(clusterMonitorWorkflowId(taskQueue));
  const deadline = Date.now() + (options.timeoutMs ?? 5000);
  try {
    if (options.requireRunning === true) {
      const description = await client.withDeadline(deadline, () => handle.describe());
      if (description.status.name !== 'RUNNING') throw new ClusterMonitorNotRunningError(taskQueue);
    }
    return await client.withDeadline(deadline, () => handle.query<ClusterViewAnswer>(clusterViewQueryName));
  } catch (err) {
    if (err instanceof WorkflowNotFoundError)
      throw new ClusterMonitorNotRunningError(taskQueue, { cause: err });
    throw err;
  }
}

export interface ClusterViewSourceOptions {
  readonly client: Pick<Client, 'workflow' | 'withDeadline'>;
  /** The workflow task queue whose monitor to read. */
  readonly taskQueue: string;
  /** How long one answer serves (default 2 s). */
  readonly cacheMs?: number;
  /** Bound of one query (default 2 s). */
  readonly timeoutMs?: number;
  /**
   * A view older than this (by its `updatedAt`) is treated as absent (default 60 s, or 6 probe intervals if longer):
   * the monitor's rounds stopped, so the view no longer says anything about now.
   */
  readonly staleMs?: number;
  /** How long the answer "no monitor exists" serves (default 30 s). */
  readonly absentCacheMs?: number;
  readonly now?: () => number;
}

/**
 * A source of the latest view for placement and metrics: the monitor's query, cached `cacheMs`; an empty view when the
 * monitor is absent, does not answer in time, or is stale — placement then decides without health and capacity.
 *
 * Wiring (the `selectCluster` activity): `const view = createClusterViewSource({ client, taskQueue })` once per worker,
 * then `await view()` per selection.
 */
export function createClusterViewSource(options: ClusterViewSourceOptions): () => Promise<ClusterView> {
  const cacheMs = options.cacheMs ?? 2000;
  const timeoutMs = options.timeoutMs ?? 2000;
  const now = options.now ?? Date.now;
  const absentMs = options.absentCacheMs ?? 30_000;
  let cached: { at: number; ttl: number; view: Promise<ClusterView> } | null = null;
  const read = async (entry: { ttl: number }): Promise<ClusterView> => {
    try {
      const answer = await queryClusterView(options.client, options.taskQueue, { timeoutMs });
      const staleMs = options.staleMs ?? Math.max(60_000, 6 * answer.intervalSeconds * 1000);
      if (answer.updatedAt === null || now() - Date.parse(answer.updatedAt) > staleMs) return {};
      return answer.view;
    } catch (err) {
      // No monitor at all (none started on this queue): asked again less often than one that is slow to answer.
      if (err instanceof ClusterMonitorNotRunningError) entry.ttl = Math.max(cacheMs, absentMs);
      return {};
    }
  };
  return () => {
    const t = now();
    if (cached === null || t - cached.at >= cached.ttl) {
      const entry: { at: number; ttl: number; view: Promise<ClusterView> } = {
        at: t,
        ttl: cacheMs,
        view: Promise.resolve({}),
      };
      entry.view = read(entry);
      cached = entry;
    }
    return cached.view;
  };
}
