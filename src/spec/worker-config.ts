/**
 * The worker's configuration: Temporal connection, the cluster registry and shutdown behaviour. Read once at
 * start-up from an optional YAML/JSON file (`ASSAY_WORKER_CONFIG`) overlaid with the environment.
 */
import { z } from 'zod';

const dnsLabel = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits, "-")');

/** One cluster of the registry (DESIGN.md "Multi-cluster"). */
export const clusterEntrySchema = z
  .object({
    name: dnsLabel,
    /** Credentials: a kubeconfig (path, context; default `$KUBECONFIG` or `~/.kube/config`) or in-cluster. */
    kubeconfig: z
      .object({
        path: z.string().min(1).nullable().default(null),
        context: z.string().min(1).nullable().default(null),
      })
      .nullable()
      .default(null),
    inCluster: z.boolean().default(false),
    labels: z.record(z.string(), z.string()).default({}),
    region: z.string().nullable().default(null),
    /** GPU types the cluster offers (e.g. `a100`). */
    gpuTypes: z.array(z.string()).default([]),
    /** `{team}` is replaced by the evaluation's team. */
    namespaceTemplate: z
      .string()
      .regex(/\{team\}/, 'must contain {team}')
      .default('assay-{team}'),
    runtimeClassName: z.string().nullable().default(null),
    /** A cordoned cluster takes no new evaluations. */
    cordoned: z.boolean().default(false),
    /**
     * Whether pod logs can be read per stream (`stream=Stdout|Stderr`, feature gate `PodLogsQuerySplitStreams`);
     * `auto` asks the API server's feature-gate metric once.
     */
    splitLogStreams: z.union([z.boolean(), z.literal('auto')]).default('auto'),
  })
  .refine((c) => !(c.inCluster && c.kubeconfig !== null), {
    message: 'set either inCluster or kubeconfig, not both',
    path: ['inCluster'],
  });
export type ClusterEntry = z.infer<typeof clusterEntrySchema>;

export const clusterRegistrySchema = z
  .array(clusterEntrySchema)
  .min(1, 'at least one cluster is required')
  .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'cluster names must be unique');
export type ClusterRegistry = z.infer<typeof clusterRegistrySchema>;

export const workerConfigSchema = z.object({
  temporal: z
    .object({
      address: z.string().min(1).default('127.0.0.1:7233'),
      namespace: z.string().min(1).default('default'),
    })
    .prefault({}),
  /** The workflow task queue; cluster queues are `<taskQueue>-cluster-<name>`. Tests use isolated queues. */
  taskQueue: z.string().min(1).default('assay'),
  /** Serve workflows and the central activities (task queue `assay`). */
  serveWorkflows: z.boolean().default(true),
  /** Names of the clusters whose task queues this worker serves; default all in the registry. */
  serveClusters: z.array(z.string()).nullable().default(null),
  clusters: clusterRegistrySchema,
  /** How long in-flight activities get to finish after SIGTERM before they are cancelled. */
  shutdownGraceSeconds: z.number().int().nonnegative().max(3600).default(20),
  /** Concurrency bound of activity executions per worker. */
  maxConcurrentActivities: z.number().int().positive().max(10_000).default(200),
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

/** Substitutes the team into a cluster's namespace template. */
export function teamNamespace(cluster: Pick<ClusterEntry, 'namespaceTemplate'>, team: string): string {
  return cluster.namespaceTemplate.replaceAll('{team}', team);
}
