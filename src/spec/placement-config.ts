/**
 * The `placement:` section of the worker config: how the cluster monitor probes the registry's clusters
 * (docs/multi-cluster.md, "Health and capacity").
 */
import { z } from 'zod';

export const placementConfigSchema = z
  .strictObject({
    /** Seconds between two probes of every cluster by the `clusterMonitor` workflow of the worker's queue. */
    probeIntervalSeconds: z.number().int().min(1).max(3600).default(5),
    /** Bound of each Kubernetes and Temporal request of a probe: a dead API server costs at most this. */
    probeTimeoutSeconds: z.number().min(0.5).max(60).default(3),
    /**
     * The node label whose value names a node's GPU type (GPU feature discovery's `nvidia.com/gpu.product`); a value
     * containing one of the entry's `gpuTypes` counts as that type. Nodes without it: the entry's only GPU type, or `gpu`.
     */
    gpuTypeLabel: z.string().min(1).default('nvidia.com/gpu.product'),
    /**
     * A poller of a cluster's task queue counts as live when it polled within this many seconds (a worker renews its
     * long poll about every minute while idle; Temporal lists a gone poller for minutes).
     */
    pollerLivenessSeconds: z.number().int().min(5).max(3600).default(90),
    /**
     * Spill-over: an attempt whose pod stays unschedulable this long is deleted and the evaluation is placed on the
     * next candidate (only when another cluster fits it; such a move does not use up a retry).
     */
    unschedulableSeconds: z.number().int().min(1).max(86_400).default(120),
    /**
     * A lost cluster: a cluster task nobody picks up for this long (its worker is gone), or an API server that has not
     * answered for this long while an attempt runs, ends the attempt as `ClusterWorkerLost` / `ClusterUnreachable`,
     * and the next attempt runs elsewhere.
     */
    lostClusterSeconds: z.number().int().min(5).max(86_400).default(300),
    /** Probes per run of the monitor workflow before it continues as new (keeps each run's history small). */
    probesPerRun: z.number().int().min(1).max(10_000).default(100),
  })
  .prefault({});
export type PlacementConfig = z.infer<typeof placementConfigSchema>;
