/**
 * The worker's configuration: Temporal connection, the cluster registry and shutdown behaviour. Read once at
 * start-up from an optional YAML/JSON file (`ASSAY_WORKER_CONFIG`) overlaid with the environment.
 */
import { tracingConfigSchema } from './tracing-config.js';
import { z } from 'zod';
import { cpuLimit, memoryLimit, quotasSchema } from './quota-config.js';
import { metricsConfigSchema } from './metrics-config.js';
import { notificationsConfigSchema } from './notifications-config.js';
import { costConfigSchema } from './pricing-config.js';
import { clusterSecuritySchema } from './cluster-security-config.js';
import { placementConfigSchema } from './placement-config.js';

const dnsLabel = z
  .string()
  .min(1)
  .max(40)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits, "-")');

/** Pull policies a container may ask for. */
export const imagePullPolicies = ['Always', 'IfNotPresent', 'Never'] as const;

/**
 * The collector sidecar of one cluster: the image that keeps a pod alive after `main` so its result file and artifacts
 * can be read (`exec tar`). It needs `sh`, `sleep` and `tar` and nothing else. Per cluster, because each cluster pulls
 * from its own registry (or, like the local stack's node, from none).
 */
export const collectorSchema = z.object({
  image: z.string().min(1, 'must name an image'),
  imagePullPolicy: z.enum(imagePullPolicies).default('IfNotPresent'),
});
export type CollectorSettings = z.infer<typeof collectorSchema>;

/** The executors an attempt can run on (docs/migration.md): a Kubernetes cluster, or a Docker engine. */
export const executorKinds = ['kubernetes', 'docker'] as const;
export type ExecutorKind = (typeof executorKinds)[number];

/**
 * How a `docker` entry reaches its engine (the Engine API over a unix socket) and what its containers get beyond the
 * fixed security defaults (src/executors/docker/container.ts).
 */
export const dockerEngineSchema = z.object({
  /** The engine's unix socket (the local stack's: `$ASSAY_DOCKER_HOST` without `unix://`). */
  socket: z.string().min(1).default('/var/run/docker.sock'),
  /**
   * The network of an evaluation whose spec allows egress; null: such evaluations are refused on this engine (every
   * other container runs with `NetworkMode: none`). Docker cannot enforce the spec's per-destination allow-list.
   */
  egressNetwork: z.string().min(1).nullable().default(null),
  /** Process limit of every container (`PidsLimit`), like the Kubernetes node's per-pod limit. */
  pidsLimit: z.number().int().positive().max(1_000_000).default(1024),
});
export type DockerEngineSettings = z.infer<typeof dockerEngineSchema>;

const wholeNumber = z.number().int('must be a whole number');
/** After a quantity's parse (which names a malformed one): a limit of nothing is a mistake. */
const positive = z.number().positive('must be more than 0');

/**
 * What one cluster takes (docs/multi-cluster.md, "Selection"). Amounts are parsed here, once: CPU to millicores, memory
 * to bytes. A null limit is not set; selection leaves a cluster out, with the reason, when an evaluation would exceed
 * one.
 */
export const clusterLimitsSchema = z
  .strictObject({
    /** Evaluations running or queued on the cluster at once (the probe's count plus this worker's placements). */
    maxConcurrentEvaluations: wholeNumber
      .min(1, 'must be at least 1 (to take no evaluations, cordon the cluster)')
      .nullable()
      .default(null),
    /** The most one evaluation may request here, e.g. `{ cpu: "16", memory: 64Gi, gpus: 1 }`. */
    maxResourcesPerEvaluation: z
      .strictObject({
        cpu: cpuLimit.pipe(positive).nullable().default(null),
        memory: memoryLimit.pipe(positive).nullable().default(null),
        /** 0: no evaluation that asks for a GPU. */
        gpus: wholeNumber.nonnegative('must not be negative').nullable().default(null),
      })
      .nullable()
      .default(null),
  })
  .prefault({});
export type ClusterLimits = z.infer<typeof clusterLimitsSchema>;

/** One cluster of the registry: how to reach it and what it offers (see docs/architecture.md). */
export const clusterEntrySchema = z
  .object({
    name: dnsLabel,
    /** What runs its attempts: a Kubernetes cluster (the default) or a Docker engine (`docker:` says which). */
    executor: z.enum(executorKinds).default('kubernetes'),
    /** The engine of a `docker` entry; null on a `kubernetes` one. */
    docker: dockerEngineSchema.nullable().default(null),
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
     * The cluster's share of the fleet's evaluations (docs/multi-cluster.md, "Selection"): among clusters that fit
     * equally well, one of weight 3 gets three evaluations for each one a cluster of weight 1 gets. 0: a fallback,
     * chosen only when no cluster of positive weight fits.
     */
    weight: z
      .number({ error: 'must be a number' })
      .min(0, 'must be 0 or more (0: only when no other cluster fits)')
      .max(1_000_000, 'must be at most 1000000')
      .default(1),
    /** Per-cluster limits: evaluations at once, and the most one evaluation may ask for. */
    limits: clusterLimitsSchema,
    /**
     * Whether pod logs can be read per stream (`stream=Stdout|Stderr`, feature gate `PodLogsQuerySplitStreams`);
     * `auto` asks the API server's feature-gate metric once.
     */
    splitLogStreams: z.union([z.boolean(), z.literal('auto')]).default('auto'),
    /**
     * The collector sidecar's image; null: the cluster runs no evaluation that declares `result:` or `artifacts:`
     * (such an attempt fails as `WorkerMisconfigured`, naming this field).
     */
    collector: collectorSchema.nullable().default(null),
    /** Runtimes, seccomp, AppArmor, image and network policy (`./cluster-security-config.ts`, docs/security.md). */
    security: clusterSecuritySchema,
  })
  .refine((c) => !(c.inCluster && c.kubeconfig !== null), {
    message: 'set either inCluster or kubeconfig, not both',
    path: ['inCluster'],
  })
  .refine((c) => c.executor !== 'docker' || c.docker !== null, {
    message: 'an executor: docker entry needs docker: { socket }',
    path: ['docker'],
  })
  .refine((c) => c.executor !== 'docker' || (c.kubeconfig === null && !c.inCluster), {
    message: 'an executor: docker entry has no kubeconfig or inCluster',
    path: ['kubeconfig'],
  })
  .refine((c) => c.executor === 'docker' || c.docker === null, {
    message: 'docker: is only for an executor: docker entry',
    path: ['docker'],
  });
export type ClusterEntry = z.infer<typeof clusterEntrySchema>;

export const clusterRegistrySchema = z
  .array(clusterEntrySchema)
  .min(1, 'at least one cluster is required')
  .refine((list) => new Set(list.map((c) => c.name)).size === list.length, 'cluster names must be unique');
export type ClusterRegistry = z.infer<typeof clusterRegistrySchema>;

/** Log levels of the worker's logger, lowest first. */
export const logLevels = ['trace', 'debug', 'info', 'warn', 'error'] as const;
export type LogLevel = (typeof logLevels)[number];

/** One team's (or user's) executor: all on one, or a percentage of its evaluations on Docker. */
const executorRolloutSchema = z.union([
  z.enum(executorKinds),
  z.strictObject({ docker: z.number().min(0).max(100) }),
]);
export type ExecutorRollout = z.infer<typeof executorRolloutSchema>;

/**
 * The executor rollout (docs/migration.md): which executor an evaluation runs on, chosen once per evaluation when its
 * cluster is chosen (deterministic by evaluation id for a percentage) and kept in history, so a change here applies
 * to evaluations that start afterwards. A user's entry wins over the team's, which wins over `default`.
 */
export const executorsConfigSchema = z
  .strictObject({
    default: z.enum(executorKinds).default('kubernetes'),
    teams: z.record(z.string(), executorRolloutSchema).default({}),
    users: z.record(z.string(), executorRolloutSchema).default({}),
  })
  .prefault({});
export type ExecutorsConfig = z.infer<typeof executorsConfigSchema>;

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
  /** Which executor each team's evaluations run on (docs/migration.md). */
  executors: executorsConfigSchema,
  /** How long in-flight activities get to finish after SIGTERM before they are cancelled. */
  shutdownGraceSeconds: z.number().int().nonnegative().max(3600).default(20),
  /** Concurrency bound of activity executions per worker. */
  maxConcurrentActivities: z.number().int().positive().max(10_000).default(200),
  /** Lowest level of the worker's structured (JSON) log lines on stderr. */
  logLevel: z.enum(logLevels).default('info'),
  /**
   * A workflow bundle built ahead of time (`bundleWorkflowCode`), read instead of bundling `src/workflows` at start-up;
   * null: bundle at start-up. Saves the seconds of bundling per start (tests build one per run).
   */
  workflowBundle: z.string().min(1).nullable().default(null),
  /**
   * What a worker that serves workflows sets up at start, whatever its task queue: the retention sweep's Temporal
   * Schedule for its queue and the bucket's lifecycle rules. Idempotent, so every such worker may do it.
   */
  retention: z
    .object({
      /** False: set up neither (e.g. where another deployment of the same queue and bucket owns it). */
      setup: z.boolean().default(true),
      /** How often the schedule starts a sweep. */
      sweepEveryMinutes: z
        .number()
        .int()
        .positive()
        .max(7 * 24 * 60)
        .default(60),
    })
    .prefault({}),
  /** Per-team quotas, priority and queueing (`./quota-config.ts`, docs/quota.md). */
  quotas: quotasSchema,
  /** The Prometheus endpoint (`./metrics-config.ts`). */
  metrics: metricsConfigSchema,
  /** Notification webhooks: SSRF allow-list, retry schedule, timeouts (`./notifications-config.ts`). */
  notifications: notificationsConfigSchema,
  /** Prices, spot labels, usage sampling and budgets (`src/spec/pricing-config.ts`, docs/cost.md). */
  cost: costConfigSchema,
  /** OpenTelemetry traces: on/off, sampling ratio, OTLP endpoint (`./tracing-config.ts`, docs/observability.md). */
  tracing: tracingConfigSchema,
  /** The cluster monitor's probes: interval, timeouts, GPU type label (`./placement-config.ts`, docs/multi-cluster.md). */
  placement: placementConfigSchema,
});
export type WorkerConfig = z.infer<typeof workerConfigSchema>;

/** Substitutes the team into a cluster's namespace template. */
export function teamNamespace(cluster: Pick<ClusterEntry, 'namespaceTemplate'>, team: string): string {
  return cluster.namespaceTemplate.replaceAll('{team}', team);
}
