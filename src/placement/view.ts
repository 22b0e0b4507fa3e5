/**
 * The cluster monitor's names and shapes (docs/multi-cluster.md, "Health and capacity"): the `clusterMonitor`
 * workflow of a worker task queue keeps the latest {@link ClusterView} and answers the `clusterView` query with it.
 * Pure: the workflow imports this module.
 */
import type { ClusterHealth, ClusterView } from './types.js';

/** Workflow type of the cluster monitor. */
export const clusterMonitorWorkflowType = 'clusterMonitor';
/** Name of the query that returns the monitor's {@link ClusterViewAnswer}. */
export const clusterViewQueryName = 'clusterView';

/** The one cluster monitor of the workers of `taskQueue`. */
export function clusterMonitorWorkflowId(taskQueue: string): string {
  return `cluster-monitor-${taskQueue}`;
}

/** What a probe round returns to the monitor: the view and the settings of the worker that ran it. */
export interface ProbeRoundResult {
  view: ClusterView;
  /** When the round ended (ISO 8601). */
  probedAt: string;
  /** The worker config's `placement.probeIntervalSeconds`: how long the monitor sleeps until the next round. */
  intervalSeconds: number;
  /** The worker config's `placement.probesPerRun`: rounds before the monitor continues as new. */
  probesPerRun: number;
  /** Kubernetes API requests of the round, per cluster. */
  apiRequests: Record<string, number>;
  durationMs: number;
}

/** The `clusterView` query's answer. */
export interface ClusterViewAnswer {
  view: ClusterView;
  /** When the last successful round ended, or null before the first. */
  updatedAt: string | null;
  intervalSeconds: number;
  /** Why the last round failed as a whole (its activity), or null. The view is then the one before. */
  lastError: string | null;
  /** Runs so far (continue-as-new count). */
  generation: number;
}

/** What one run of the monitor hands the next. */
export interface ClusterMonitorInput {
  carried?: Omit<ClusterViewAnswer, 'lastError'>;
}

/**
 * The view after a round: the round's entries (clusters no longer in the registry drop out), each keeping the last
 * `lastSeen` it had when the round did not reach its API server.
 */
export function mergeView(previous: ClusterView, next: ClusterView): ClusterView {
  const merged: Record<string, ClusterHealth> = {};
  for (const [name, health] of Object.entries(next)) {
    merged[name] =
      health.lastSeen === null ? { ...health, lastSeen: previous[name]?.lastSeen ?? null } : health;
  }
  return merged;
}
