/**
 * Starting and stopping the EvaluationJob controller with leader election: what `assay controller` runs and what the
 * integration tests start in-process (docs/kubernetes.md, "The controller").
 *
 * @packageDocumentation
 */
import { hostname } from 'node:os';
import { Client, Connection, defaultGrpcRetryOptions, makeGrpcRetryInterceptor } from '@temporalio/client';
import { CoordinationV1Api, KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { AssayClient } from '../client/assay-client.js';
import { tracingClientInterceptors } from '../telemetry/temporal.js';
import { workflowTaskQueue } from '../spec/names.js';
import { temporalTlsOptions } from '../spec/temporal-tls.js';
import { runController } from './controller.js';
import { LeaderElector, kubeLeaseStore, leaseDefaults } from './lease.js';
import { createRequestCounter, type RequestCounter } from './requests.js';
import type { Registry } from 'prom-client';

export interface ControllerConfig {
  readonly temporalAddress: string;
  readonly temporalNamespace: string;
  readonly taskQueue: string;
  readonly labelSelector?: string;
  readonly leaseName: string;
  readonly leaseNamespace: string;
  readonly identity: string;
  readonly pollIntervalMs: number;
  readonly resyncIntervalMs: number;
  readonly leaseDurationSeconds: number;
  readonly renewIntervalMs: number;
  readonly retryPeriodMs: number;
}

export interface ControllerFlags {
  taskQueue?: string;
  selector?: string;
  leaseName?: string;
  leaseNamespace?: string;
  identity?: string;
  pollInterval?: string;
  resync?: string;
}

/** Thrown for a flag or variable that is not usable; names it. */
export class ControllerConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ControllerConfigError';
  }
}

function seconds(value: string | undefined, what: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new ControllerConfigError(
      `${what} must be a positive number of seconds, got ${JSON.stringify(value)}`,
    );
  return n * 1000;
}

/** The configuration from flags over the environment (`TEMPORAL_ADDRESS`, `ASSAY_CONTROLLER_*`, `POD_NAMESPACE`). */
export function loadControllerConfig(
  flags: ControllerFlags = {},
  env: Readonly<Record<string, string | undefined>> = process.env,
): ControllerConfig {
  const selector = flags.selector ?? env.ASSAY_CONTROLLER_SELECTOR;
  return {
    temporalAddress: env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233',
    temporalNamespace: env.TEMPORAL_NAMESPACE ?? 'default',
    taskQueue: flags.taskQueue ?? env.ASSAY_TASK_QUEUE ?? workflowTaskQueue,
    ...(selector !== undefined && selector !== '' ? { labelSelector: selector } : {}),
    leaseName: flags.leaseName ?? env.ASSAY_CONTROLLER_LEASE ?? 'assay-controller',
    leaseNamespace:
      flags.leaseNamespace ?? env.ASSAY_CONTROLLER_LEASE_NAMESPACE ?? env.POD_NAMESPACE ?? 'default',
    identity: flags.identity ?? env.ASSAY_CONTROLLER_IDENTITY ?? `${hostname()}-${process.pid}`,
    pollIntervalMs: seconds(
      flags.pollInterval ?? env.ASSAY_CONTROLLER_POLL_SECONDS,
      'the poll interval',
      5000,
    ),
    resyncIntervalMs: seconds(
      flags.resync ?? env.ASSAY_CONTROLLER_RESYNC_SECONDS,
      'the resync interval',
      300_000,
    ),
    leaseDurationSeconds: leaseDefaults.leaseDurationSeconds,
    renewIntervalMs: leaseDefaults.renewIntervalMs,
    retryPeriodMs: leaseDefaults.retryPeriodMs,
  };
}

/** The controller's log: JSON lines on stderr, like the worker's. */
export function controllerLogger(level = process.env.ASSAY_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'assay-controller',
      level,
      base: { pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

export interface RunningController {
  readonly config: ControllerConfig;
  readonly requests: RequestCounter;
  readonly elector: LeaderElector;
  /** Stops acting, releases the Lease (so a standby takes over at once) and closes the connection. */
  stop(): Promise<void>;
}

export interface StartControllerOptions {
  readonly config: ControllerConfig;
  readonly logger?: Logger;
  readonly kubeConfig?: KubeConfig;
  /** Where `assay_controller_api_requests_total` is registered, when given. */
  readonly registry?: Registry;
}

/**
 * Starts campaigning for the Lease; the replica that holds it runs the controller. Temporal is connected lazily, so a
 * controller starts (and reports each resource's start failure as a condition) while Temporal is unreachable.
 */
export function startController(options: StartControllerOptions): RunningController {
  const { config } = options;
  const logger = options.logger ?? controllerLogger();
  const kubeConfig = options.kubeConfig ?? defaultKubeConfig();
  const requests = createRequestCounter(options.registry);
  // Few gRPC retries: a start that cannot reach Temporal fails within seconds and the controller's own back-off
  // (per resource, up to 5 min) takes over, with a condition saying so.
  const connection = Connection.lazy({
    address: config.temporalAddress,
    ...temporalTlsOptions(),
    connectTimeout: '5 seconds',
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: 3 }))],
  });
  const client = new AssayClient(
    new Client({
      connection,
      namespace: config.temporalNamespace,
      interceptors: tracingClientInterceptors(),
    }),
    {
      taskQueue: config.taskQueue,
    },
  );
  const stop = new AbortController();
  let current: Promise<void> = Promise.resolve();
  const elector = new LeaderElector({
    store: kubeLeaseStore(
      kubeConfig.makeApiClient(CoordinationV1Api),
      config.leaseNamespace,
      config.leaseName,
      () => requests.count('kube', 'lease'),
    ),
    name: config.leaseName,
    namespace: config.leaseNamespace,
    identity: config.identity,
    leaseDurationSeconds: config.leaseDurationSeconds,
    renewIntervalMs: config.renewIntervalMs,
    retryPeriodMs: config.retryPeriodMs,
    onStartedLeading: (signal) => {
      logger.info(
        { identity: config.identity, lease: `${config.leaseNamespace}/${config.leaseName}` },
        'started leading',
      );
      current = runController(
        {
          kubeConfig,
          client,
          logger,
          requests,
          ...(config.labelSelector !== undefined ? { labelSelector: config.labelSelector } : {}),
          pollIntervalMs: config.pollIntervalMs,
          resyncIntervalMs: config.resyncIntervalMs,
        },
        signal,
      ).catch((err: unknown) => logger.error({ err }, 'controller stopped on an error'));
    },
    onStoppedLeading: () => logger.info({ identity: config.identity }, 'stopped leading'),
    onError: (err) =>
      logger.warn({ error: err instanceof Error ? err.message : String(err) }, 'lease request failed'),
  });
  logger.info(
    {
      identity: config.identity,
      lease: `${config.leaseNamespace}/${config.leaseName}`,
      taskQueue: config.taskQueue,
    },
    'campaigning for the lease',
  );
  const electing = elector.run(stop.signal);
  return {
    config,
    requests,
    elector,
    async stop() {
      stop.abort();
      await electing;
      await current;
      await connection.close().catch(() => undefined);
      logger.info({ requests: requests.snapshot() }, 'stopped');
    },
  };
}

function defaultKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromDefault();
  return kc;
}
