/**
 * The cluster monitor's activity on the workflow task queue (docs/multi-cluster.md, "Health and capacity"): one
 * round of probes of every registry cluster, side by side, with this worker's credentials and settings.
 */
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { Client } from '@temporalio/client';
import { createClusterProber } from '../placement/probe.js';
import type { ProbeRoundResult } from '../placement/view.js';
import type { PlacementConfig } from '../spec/placement-config.js';
import type { ClusterRegistry } from '../spec/worker-config.js';

export interface ClusterMonitorActivities {
  /** Probes every cluster of the registry; never fails for a cluster's sake (an unreachable one is unhealthy). */
  probeClusters(): Promise<ProbeRoundResult>;
}

export interface ClusterMonitorActivityDeps {
  readonly registry: ClusterRegistry;
  readonly placement: PlacementConfig;
  /** The workflow task queue; cluster queues are named after it. */
  readonly taskQueue: string;
  /** For the pollers of each cluster's task queue. */
  readonly temporal: Client;
  /** Told of failed Kubernetes requests (`assay_kube_api_errors_total`). */
  readonly onApiError?: (cluster: string, code: string) => void;
}

export function createClusterMonitorActivities(deps: ClusterMonitorActivityDeps): ClusterMonitorActivities {
  const prober = createClusterProber({
    registry: deps.registry,
    settings: deps.placement,
    taskQueue: deps.taskQueue,
    temporal: deps.temporal,
    ...(deps.onApiError !== undefined ? { onApiError: deps.onApiError } : {}),
  });
  return {
    async probeClusters() {
      // Every few seconds, forever: its requests are not traced (the round's activity span is enough).
      const round = await context.with(suppressTracing(context.active()), () => prober.probe());
      return {
        view: round.view,
        probedAt: new Date().toISOString(),
        intervalSeconds: deps.placement.probeIntervalSeconds,
        probesPerRun: deps.placement.probesPerRun,
        apiRequests: round.apiRequests,
        durationMs: round.durationMs,
      };
    },
  };
}
