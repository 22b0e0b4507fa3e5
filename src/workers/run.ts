/**
 * Wires real clients into the activity factories and runs the workers of one process: workflows and central
 * activities on `assay`, each served cluster's activities on `assay-cluster-<name>`.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type { Logger as TemporalLogger } from '@temporalio/common';
import { Worker, bundleWorkflowCode, type NativeConnection, type WorkflowBundle } from '@temporalio/worker';
import { createBatchActivities } from '../activities/batch.js';
import { createClusterActivities } from '../activities/cluster.js';
import { createAttemptWatches, type AttemptWatches } from '../activities/attempt-watches.js';
import { createJanitorActivities, createJanitorUploadActivities } from '../activities/janitor.js';
import {
  createNotificationCentralActivities,
  createWebhookDeliveryActivities,
} from '../activities/notifications.js';
import { createRecordActivities } from '../activities/records.js';
import type { RecordActivities } from '../activities/types.js';
import type { EvaluationOutput } from '../spec/record.js';
import { createRetentionActivities } from '../activities/retention.js';
import { createQuotaActivities } from '../activities/quota.js';
import { createTeamBackstop } from '../activities/quota-backstop.js';
import { Client } from '@temporalio/client';
import { createClusterViewSource } from '../placement/view-source.js';
import { createScheduleActivities } from '../activities/schedule.js';
import { createKubeClients, KubeConfigError, kubeSourceOf, type KubeClients } from '../kube/clients.js';
import { createClusterMonitorActivities } from '../activities/cluster-monitor.js';
import { clusterTaskQueue } from '../spec/names.js';
import type { WorkerConfig } from '../spec/worker-config.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { CapturedFile } from '../logs/capture.js';
import { activityLogAttributes, type Logger } from './logger.js';
import { clusterCostMeasurement } from '../cost/cluster-wiring.js';
import { createCostMetrics, type CostMetrics } from '../cost/metrics.js';
import { executorActivities } from '../executors/port.js';
import type { EvaluationMetrics } from './evaluation-metrics.js';
import {
  tracingActivityInterceptor,
  tracingSinks,
  workflowInterceptorModules,
} from '../telemetry/temporal.js';
import type { Telemetry } from '../telemetry/sdk.js';
import { forwardPodSpans } from '../telemetry/pod-spans.js';
import { Resource } from '@opentelemetry/resources';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createDockerExecutor } from '../executors/docker/executor.js';
import { createKubernetesExecutor } from '../executors/kubernetes/executor.js';

/** Path of the workflow entry module that the bundle is built from. */
export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));

/**
 * The workflow bundle: read from `prebuiltPath` when given (the worker config's `workflowBundle`; tests build one per
 * run), else bundled now from {@link workflowsPath}. The bundler's warnings and errors go to `logger` when given.
 */
export async function loadWorkflowBundle(
  prebuiltPath?: string | null,
  logger?: Logger,
): Promise<WorkflowBundle> {
  if (prebuiltPath !== undefined && prebuiltPath !== null && prebuiltPath !== '') {
    return { code: await readFile(prebuiltPath, 'utf8') };
  }
  return await bundleWorkflowCode({
    workflowsPath,
    workflowInterceptorModules: [...workflowInterceptorModules],
    logger: bundlerLogger(logger?.child({ component: 'bundler' })),
  });
}

/** The bundler's logger: warnings and errors only, to `logger` or else stderr. */
function bundlerLogger(logger: Logger | undefined): TemporalLogger {
  const report =
    (level: 'warn' | 'error') =>
    (message: string, meta?: Record<string, unknown>): void => {
      if (logger !== undefined) logger[level]({ ...meta }, message);
      else process.stderr.write(`bundler: ${message}\n`);
    };
  const ignore = (): void => undefined;
  return {
    log: ignore,
    trace: ignore,
    debug: ignore,
    info: ignore,
    warn: report('warn'),
    error: report('error'),
  };
}

export interface RunningWorkers {
  readonly taskQueues: readonly string[];
  /** Resolves when every worker has stopped (after `shutdown` or a fatal error). */
  readonly done: Promise<void>;
  shutdown(): void;
}

export interface StartWorkersDeps {
  readonly connection: NativeConnection;
  readonly store: ObjectStore;
  readonly bundle: WorkflowBundle;
  /** Test hook: activity heartbeat interval of the wait activity. */
  readonly heartbeatIntervalMs?: number;
  /** The cost counter (docs/cost.md); default: a registry of its own. */
  readonly costMetrics?: CostMetrics;
  /** Told of every record written (metrics; docs/quota.md). */
  readonly onRecord?: (record: EvaluationOutput) => void;
  /** Told of the bytes log captures store and of failed Kubernetes API calls (metrics; docs/quota.md). */
  readonly evaluationMetrics?: Pick<EvaluationMetrics, 'captureBytes' | 'kubeApiError'>;
  /** Where the workflow sandbox's spans go (docs/observability.md); default: nowhere. */
  readonly telemetry?: Pick<Telemetry, 'spanProcessor' | 'resource' | 'settings'>;
  /** Told of a served cluster left out because its credentials cannot be loaded (the others are served). */
  readonly logger?: Pick<Logger, 'error'>;
}

function observedRecords(
  activities: RecordActivities,
  onRecord: ((record: EvaluationOutput) => void) | undefined,
): RecordActivities {
  if (onRecord === undefined) return activities;
  return {
    async writeRecord(record) {
      const written = await activities.writeRecord(record);
      onRecord(record);
      return written;
    },
  };
}

/** A sink for workflow spans when the process has no telemetry: they are dropped. */
const silentTelemetry = { spanProcessor: new NoopSpanProcessor(), resource: Resource.empty() };

/** Creates and runs the workers `config` asks for. */
export async function startWorkers(config: WorkerConfig, deps: StartWorkersDeps): Promise<RunningWorkers> {
  const common = {
    connection: deps.connection,
    namespace: config.temporal.namespace,
    shutdownGraceTime: `${config.shutdownGraceSeconds} seconds`,
    maxConcurrentActivityTaskExecutions: config.maxConcurrentActivities,
    // The interceptors' sink is registered whether tracing is on or off (src/telemetry/temporal.ts).
    sinks: tracingSinks(deps.telemetry ?? silentTelemetry),
  } as const;
  const workers: Worker[] = [];
  if (config.serveWorkflows) {
    // One client for every central activity that talks to Temporal (quota, the cluster monitor, the janitor).
    const temporal = new Client({ connection: deps.connection, namespace: config.temporal.namespace });
    // Selection reads the cluster monitor's view (docs/multi-cluster.md); without a monitor, registry order.
    const view =
      process.env.ASSAY_CLUSTER_MONITOR === 'false'
        ? undefined
        : createClusterViewSource({ client: temporal, taskQueue: config.taskQueue });
    workers.push(
      await Worker.create({
        ...common,
        taskQueue: config.taskQueue,
        workflowBundle: deps.bundle,
        interceptors: { activity: [tracingActivityInterceptor, activityLogAttributes(null)] },
        activities: {
          ...createClusterActivities({
            registry: config.clusters,
            taskQueue: config.taskQueue,
            quotas: config.quotas,
            executors: config.executors,
            cost: config.cost,
            placement: config.placement,
            ...(view !== undefined ? { view } : {}),
          }),
          ...observedRecords(
            createRecordActivities({
              store: deps.store,
              cost: { config: config.cost, metrics: deps.costMetrics ?? createCostMetrics() },
            }),
            deps.onRecord,
          ),
          ...createRetentionActivities({ store: deps.store }),
          ...createQuotaActivities({
            client: temporal,
            quotas: config.quotas,
            taskQueue: config.taskQueue,
          }),
          ...createNotificationCentralActivities({
            store: deps.store,
            policy: config.notifications,
            temporalNamespace: config.temporal.namespace,
          }),
          // Tries of events that happened before a cluster was chosen (no Secret can be read here).
          ...createWebhookDeliveryActivities({ kube: null, policy: config.notifications }),
          ...createBatchActivities({ store: deps.store }),
          ...createScheduleActivities(),
          // The cluster monitor's probe rounds (docs/multi-cluster.md, "Health and capacity").
          ...createClusterMonitorActivities({
            registry: config.clusters,
            placement: config.placement,
            taskQueue: config.taskQueue,
            temporal,
            ...(deps.evaluationMetrics !== undefined
              ? {
                  onApiError: (cluster: string, code: string) =>
                    deps.evaluationMetrics?.kubeApiError(cluster, code),
                }
              : {}),
          }),
          // The janitor's sweep of the object store's multipart uploads (docs/kubernetes.md, "The janitor").
          ...createJanitorUploadActivities({
            store: deps.store,
            temporal,
          }),
        },
      }),
    );
  }
  const clusterWatches: Pick<AttemptWatches, 'stopAll'>[] = [];
  const served = config.clusters.filter(
    (c) => config.serveClusters === null || config.serveClusters.includes(c.name),
  );
  const metrics = deps.evaluationMetrics;
  const onStoredBytes = metrics && ((file: CapturedFile, bytes: number) => metrics.captureBytes(file, bytes));
  // The spans an evaluation's own process left in its outputs go to the same trace store (src/telemetry/pod-spans.ts).
  const otlp = deps.telemetry?.settings.endpoint ?? null;
  const forwardSpans =
    otlp !== null ? (spans: Buffer, traceId: string) => forwardPodSpans(spans, traceId, otlp) : undefined;
  /** The worker of one cluster's task queue, with its activities. */
  const clusterWorker = (name: string, activities: object): Promise<Worker> =>
    Worker.create({
      ...common,
      taskQueue: clusterTaskQueue(name, config.taskQueue),
      interceptors: { activity: [tracingActivityInterceptor, activityLogAttributes(name)] },
      activities,
    });
  for (const cluster of served) {
    if (cluster.docker !== null) {
      // A Docker engine (src/executors/docker): the same activity names on its own queue.
      const docker = createDockerExecutor({
        settings: cluster.docker,
        store: deps.store,
        ...(deps.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: deps.heartbeatIntervalMs } : {}),
        ...(onStoredBytes !== undefined ? { onStoredBytes } : {}),
        ...(forwardSpans !== undefined ? { forwardSpans } : {}),
      });
      clusterWatches.push({ stopAll: () => docker.stop() });
      workers.push(
        await clusterWorker(cluster.name, {
          ...executorActivities(docker),
          ...createWebhookDeliveryActivities({ kube: null, policy: config.notifications }),
        }),
      );
      continue;
    }
    let kube: KubeClients;
    try {
      kube = createKubeClients(
        kubeSourceOf(cluster),
        metrics !== undefined ? { onApiError: (code) => metrics.kubeApiError(cluster.name, code) } : {},
      );
    } catch (err) {
      if (!(err instanceof KubeConfigError)) throw err;
      // A bad registry entry does not stop the worker: its queue has no poller, which the cluster monitor reports
      // with the reason (docs/multi-cluster.md, "Health and capacity"); the other clusters are served.
      deps.logger?.error(
        {
          cluster: cluster.name,
          error: err.message,
          cause: err.cause instanceof Error ? err.cause.message : null,
        },
        `cluster ${cluster.name} is not served: its credentials cannot be loaded`,
      );
      continue;
    }
    // One pod watch per namespace, shared by the waits and the log captures of every attempt on this cluster.
    const watches = createAttemptWatches(kube);
    clusterWatches.push(watches);
    const cost = clusterCostMeasurement(config.cost, cluster.name, kube);
    clusterWatches.push(cost.sampler);
    workers.push(
      await clusterWorker(cluster.name, {
        ...executorActivities(
          createKubernetesExecutor({
            kube,
            jobs: {
              watches,
              cluster: { collector: cluster.collector, priorityClasses: config.quotas.kubernetesBackstop },
              ...(config.quotas.kubernetesBackstop
                ? { backstop: createTeamBackstop(kube, config.quotas) }
                : {}),
              cost: cost.meter,
              ...(deps.heartbeatIntervalMs !== undefined
                ? { heartbeatIntervalMs: deps.heartbeatIntervalMs }
                : {}),
            },
            logs: {
              watches,
              store: deps.store,
              splitStreams: cluster.splitLogStreams,
              ...(onStoredBytes !== undefined ? { onStoredBytes } : {}),
            },
            outputs: {
              store: deps.store,
              ...(deps.heartbeatIntervalMs !== undefined
                ? { heartbeatIntervalMs: deps.heartbeatIntervalMs }
                : {}),
              ...(forwardSpans !== undefined ? { forwardSpans } : {}),
            },
          }),
        ),
        ...createWebhookDeliveryActivities({ kube, policy: config.notifications }),
        // The janitor's sweep of this cluster (docs/kubernetes.md, "The janitor").
        ...createJanitorActivities({
          kube,
          temporal: new Client({ connection: deps.connection, namespace: config.temporal.namespace }),
        }),
      }),
    );
  }
  // Once the workers have stopped, nothing waits on the shared watches any more.
  const done = Promise.all(workers.map((w) => w.run())).then(() => {
    for (const w of clusterWatches) w.stopAll();
  });
  return {
    taskQueues: workers.map((w) => w.options.taskQueue),
    done,
    shutdown: () => {
      for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    },
  };
}
