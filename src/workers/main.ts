/**
 * `npm run worker`: the Assay worker process. Wires, in order: the configuration (read once through its schema), the
 * JSON logger and the Temporal Runtime, the connections, the workers, then the retention set-up. SIGTERM/SIGINT shut
 * it down gracefully: polling stops, in-flight activities get the grace time.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { setUpRetention } from '../retention/setup.js';
import type { WorkerConfig } from '../spec/worker-config.js';
import { createS3ObjectStore, loadS3Config, type S3StoreConfig } from '../storage/index.js';
import { loadWorkerConfig } from './config.js';
import { createLogger, installWorkerRuntime, type Logger } from './logger.js';
import { loadWorkflowBundle, startWorkers } from './run.js';
import { createCostMetrics } from '../cost/metrics.js';
import { createWorkerMetrics, type WorkerMetrics } from './metrics.js';
import { registerQuotaMetrics, type QuotaMetrics } from './quota-metrics.js';
import { phaseCounts, registerEvaluationMetrics, type EvaluationMetrics } from './evaluation-metrics.js';
import { coreMetricsExporter, coreScrape, freeLoopbackPort } from './temporal-metrics.js';
import { quotaSnapshots } from '../client/quota.js';
import { ensureJanitorSchedule, janitorScheduleId } from '../janitor/schedule.js';
import { temporalTlsOptions } from '../spec/temporal-tls.js';
import { startTelemetry, type Telemetry } from '../telemetry/sdk.js';
import { createClusterViewSource, ensureClusterMonitor } from '../placement/view-source.js';
import { clusterMonitorWorkflowId } from '../placement/view.js';
import { registerClusterMetrics } from './cluster-metrics.js';

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The schedule and lifecycle rules of the worker's queue, logged; they never stop the worker. */
async function retentionSetUp(config: WorkerConfig, s3: S3StoreConfig, logger: Logger): Promise<void> {
  const connection = await Connection.connect({ address: config.temporal.address, ...temporalTlsOptions() });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const report = await setUpRetention(
      { taskQueue: config.taskQueue, sweepEveryMinutes: config.retention.sweepEveryMinutes },
      { client, s3 },
    );
    const log = logger.child({ component: 'retention' });
    if (report.schedule.status === 'failed') {
      log.warn(
        { scheduleId: report.schedule.id, error: report.schedule.error },
        'no retention sweep schedule',
      );
    } else {
      log.info(
        { scheduleId: report.schedule.id, status: report.schedule.status },
        'retention sweep schedule',
      );
    }
    if (report.lifecycle.status === 'failed') {
      log.warn({ error: report.lifecycle.error }, 'cannot apply bucket lifecycle rules');
    } else {
      log.info(
        { status: report.lifecycle.status },
        report.lifecycle.status === 'applied'
          ? 'bucket lifecycle rules applied (backstops; retention itself is swept)'
          : 'the object store has no lifecycle rules: retention relies on the scheduled sweep',
      );
    }
  } finally {
    await connection.close();
  }
}

/**
 * The janitor's schedule for the worker's queue (docs/kubernetes.md, "The janitor"), over the Kubernetes clusters of
 * the registry; `ASSAY_JANITOR_DRY_RUN=true` makes it report only, `ASSAY_JANITOR_SETUP=false` leaves it out.
 */
async function janitorSetUp(config: WorkerConfig, logger: Logger): Promise<void> {
  if (process.env.ASSAY_JANITOR_SETUP === 'false') return;
  const connection = await Connection.connect({ address: config.temporal.address, ...temporalTlsOptions() });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const clusters = config.clusters.filter((c) => c.docker === null).map((c) => c.name);
    const dryRun = process.env.ASSAY_JANITOR_DRY_RUN === 'true';
    const created = await ensureJanitorSchedule(client, { taskQueue: config.taskQueue, clusters, dryRun });
    logger.child({ component: 'janitor' }).info(
      {
        scheduleId: janitorScheduleId(config.taskQueue),
        status: created ? 'created' : 'exists',
        clusters,
        dryRun,
      },
      'janitor schedule',
    );
  } finally {
    await connection.close();
  }
}

/**
 * The cluster monitor of the worker's queue (docs/multi-cluster.md, "Health and capacity"), started unless it runs;
 * `ASSAY_CLUSTER_MONITOR=false` leaves it out (throwaway test queues).
 */
async function clusterMonitorSetUp(config: WorkerConfig, logger: Logger): Promise<void> {
  if (process.env.ASSAY_CLUSTER_MONITOR === 'false') return;
  const connection = await Connection.connect({ address: config.temporal.address, ...temporalTlsOptions() });
  try {
    const client = new Client({ connection, namespace: config.temporal.namespace });
    const status = await ensureClusterMonitor(client, config.taskQueue);
    logger.child({ component: 'cluster-monitor' }).info(
      {
        workflowId: clusterMonitorWorkflowId(config.taskQueue),
        status,
        probeIntervalSeconds: config.placement.probeIntervalSeconds,
      },
      'cluster monitor',
    );
  } finally {
    await connection.close();
  }
}

/**
 * The Temporal Runtime; with a metrics port in the config, the core serves its own metrics on a free loopback port,
 * returned, which the worker's endpoint appends (docs/quota.md, "Metrics"). Null when there is none.
 */
async function installRuntime(config: WorkerConfig, logger: Logger): Promise<number | null> {
  if (config.metrics.port === null) {
    installWorkerRuntime(logger);
    return null;
  }
  try {
    const port = await freeLoopbackPort();
    installWorkerRuntime(logger, coreMetricsExporter(port));
    return port;
  } catch (err) {
    logger.warn({ error: messageOf(err) }, "the Temporal SDK's metrics are off");
    installWorkerRuntime(logger);
    return null;
  }
}

/** The Prometheus endpoint when the config names a port (docs/quota.md, "Metrics"). */
async function startMetrics(
  config: WorkerConfig,
  connection: NativeConnection,
  corePort: number | null,
  logger: Logger,
): Promise<{ server: WorkerMetrics; quota: QuotaMetrics; evaluations: EvaluationMetrics } | null> {
  if (config.metrics.port === null) return null;
  const server = createWorkerMetrics(
    corePort !== null ? { temporalCore: coreScrape(`http://127.0.0.1:${corePort}/metrics`) } : {},
  );
  const client = new Client({ connection, namespace: config.temporal.namespace });
  const quota = registerQuotaMetrics(server.registry, () => quotaSnapshots(client));
  const evaluations = registerEvaluationMetrics(server.registry, {
    phases: () => phaseCounts(client, config.taskQueue),
  });
  registerClusterMetrics(server.registry, createClusterViewSource({ client, taskQueue: config.taskQueue }));
  const port = await server.serve(config.metrics.port, config.metrics.host);
  logger.info(
    { port, host: config.metrics.host },
    `metrics on http://${config.metrics.host}:${port}/metrics`,
  );
  return { server, quota, evaluations };
}

async function main(logger: Logger): Promise<void> {
  const config = loadWorkerConfig();
  logger.level = config.logLevel;
  // First, so every client and worker made below is traced; shut down last, so every span is flushed.
  const telemetry = startTelemetry({ serviceName: 'assay-worker', config: config.tracing });
  try {
    await serve(config, telemetry, logger);
  } finally {
    await telemetry.shutdown();
  }
}

async function serve(config: WorkerConfig, telemetry: Telemetry, logger: Logger): Promise<void> {
  if (telemetry.settings.enabled) {
    logger.info(
      { endpoint: telemetry.settings.endpoint, samplingRatio: telemetry.settings.samplingRatio },
      'tracing on',
    );
  }
  const s3 = loadS3Config();
  const corePort = await installRuntime(config, logger);
  for (const cluster of config.clusters) {
    if (cluster.collector === null) {
      logger.warn(
        { cluster: cluster.name },
        'cluster has no collector image: its evaluations cannot declare result: or artifacts:',
      );
    }
  }
  const store = createS3ObjectStore(s3);
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({
      address: config.temporal.address,
      ...temporalTlsOptions(),
    });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${config.temporal.address} (set TEMPORAL_ADDRESS, or run \`npm run stack -- up\`): ${messageOf(err)}`,
      { cause: err },
    );
  }
  try {
    await store.exists('evaluations/.probe');
  } catch (err) {
    throw new Error(`cannot reach the object store (ASSAY_S3_*): ${messageOf(err)}`, { cause: err });
  }
  const bundle = await loadWorkflowBundle(config.workflowBundle, logger);
  const metrics = await startMetrics(config, connection, corePort, logger);
  const running = await startWorkers(config, {
    connection,
    store,
    bundle,
    telemetry,
    logger,
    ...(metrics !== null
      ? {
          onRecord: (record) => {
            metrics.quota.observeRecord(record);
            metrics.evaluations.observeRecord(record);
          },
          costMetrics: createCostMetrics(metrics.server.registry),
          evaluationMetrics: metrics.evaluations,
        }
      : {}),
  });
  if (config.serveWorkflows) {
    await clusterMonitorSetUp(config, logger).catch((err: unknown) =>
      logger.warn({ error: messageOf(err) }, 'cluster monitor set-up failed'),
    );
  }
  if (config.serveWorkflows && config.retention.setup) {
    await retentionSetUp(config, s3, logger).catch((err: unknown) =>
      logger.warn({ error: messageOf(err) }, 'retention set-up failed'),
    );
    await janitorSetUp(config, logger).catch((err: unknown) =>
      logger.warn({ error: messageOf(err) }, 'janitor set-up failed'),
    );
  }
  logger.info(
    {
      taskQueues: running.taskQueues,
      temporal: config.temporal.address,
      namespace: config.temporal.namespace,
      workflowBundle: config.workflowBundle ?? 'bundled at start-up',
    },
    `serving ${running.taskQueues.join(', ')}`,
  );
  try {
    await running.done;
  } finally {
    await metrics?.server.close();
    await connection.close();
  }
  logger.info('stopped');
}

const logger = createLogger();
main(logger).catch((err: unknown) => {
  logger.error({ err }, messageOf(err));
  process.exit(1);
});
