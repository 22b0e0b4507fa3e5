/**
 * What the stack-backed evaluation tests share: clients of the real stack with Assay's workers running in this
 * process on a test's own task queue, worker child processes a test may kill, and small builders of ids and
 * manifests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import { createKubeClients, type KubeClients } from '../../src/kube/clients.js';
import { workerConfigSchema } from '../../src/spec/worker-config.js';
import { createS3ObjectStore, loadS3Config, type S3ObjectStore } from '../../src/storage/index.js';
import { localStackCollector } from '../../src/workers/config.js';
import { loadWorkflowBundle, startWorkers, type RunningWorkers } from '../../src/workers/run.js';
import { installQuietTemporalRuntime } from './temporal.js';
import { stackTestEnv } from './test-env.js';

/** Options of {@link startEvaluationHarness}. */
export interface EvaluationHarnessOptions {
  /** The task queue the in-process workers serve and the client starts evaluations on. */
  readonly taskQueue: string;
  /** Activity heartbeat interval of the workers' wait activity; 1000 ms unless given. */
  readonly heartbeatIntervalMs?: number;
  /** The workers' `quotas:` section (docs/quota.md); none by default. */
  readonly quotas?: unknown;
  /** The workers' `notifications` config section (see src/spec/notifications-config.ts); the defaults unless given. */
  readonly notifications?: Record<string, unknown>;
  /** The worker config's `cost:` section (prices, spot labels, sampling interval); the defaults unless given. */
  readonly cost?: Record<string, unknown>;
  /** The local cluster's `security:` section (runtimes, seccomp, images, network; docs/security.md); defaults unless given. */
  readonly security?: Record<string, unknown>;
  /** More registry entries after `local` (e.g. a Docker engine: `executor: docker`). */
  readonly extraClusters?: readonly Record<string, unknown>[];
  /** The worker config's `executors:` rollout (docs/migration.md); the default (all Kubernetes) unless given. */
  readonly executors?: Record<string, unknown>;
}

/** The real stack's clients and Assay's workers running in this process; see {@link startEvaluationHarness}. */
export interface EvaluationHarness {
  /** Kubernetes clients for the cluster of `KUBECONFIG`. */
  readonly kube: KubeClients;
  /** The S3 store the workers write to. */
  readonly store: S3ObjectStore;
  /** The client's Temporal connection. */
  readonly connection: Connection;
  /** An Assay client on the harness's task queue; `client.temporal` reaches other queues. */
  readonly client: AssayClient;
  /** The workers' Temporal connection. */
  readonly nativeConnection: NativeConnection;
  readonly workers: RunningWorkers;
  /** Stops the workers, then closes both connections. */
  close(): Promise<void>;
}

/**
 * Connects to the stack the Jest global setup brought up and starts Assay's workers in this process, on
 * `taskQueue`, for the local cluster, with the workflow bundle built once for the run and a 2 s shutdown grace.
 * Call it from `beforeAll` and {@link EvaluationHarness.close} from `afterAll`. If starting fails part way,
 * whatever was already opened is closed before the error is thrown.
 */
export async function startEvaluationHarness(options: EvaluationHarnessOptions): Promise<EvaluationHarness> {
  const env = stackTestEnv();
  const { taskQueue, heartbeatIntervalMs = 1000 } = options;
  installQuietTemporalRuntime();
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  const store = createS3ObjectStore(loadS3Config());
  // Closed again, newest first, if a later step fails.
  const opened: { close(): Promise<void> }[] = [];
  try {
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    opened.push(connection);
    const client = new AssayClient(new Client({ connection, namespace: env.TEMPORAL_NAMESPACE }), {
      taskQueue,
    });
    const nativeConnection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
    opened.push(nativeConnection);
    const config = workerConfigSchema.parse({
      temporal: { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE },
      taskQueue,
      clusters: [
        {
          name: 'local',
          kubeconfig: { path: process.env.KUBECONFIG ?? null },
          collector: localStackCollector,
          ...(options.security !== undefined ? { security: options.security } : {}),
        },
        ...(options.extraClusters ?? []),
      ],
      ...(options.executors !== undefined ? { executors: options.executors } : {}),
      shutdownGraceSeconds: 2,
      ...(options.quotas !== undefined ? { quotas: options.quotas } : {}),
      ...(options.notifications !== undefined ? { notifications: options.notifications } : {}),
      ...(options.cost !== undefined ? { cost: options.cost } : {}),
    });
    const workers = await startWorkers(config, {
      connection: nativeConnection,
      store,
      bundle: await loadWorkflowBundle(env.ASSAY_TEST_WORKFLOW_BUNDLE),
      heartbeatIntervalMs,
    });
    return {
      kube,
      store,
      connection,
      client,
      nativeConnection,
      workers,
      async close() {
        workers.shutdown();
        await workers.done;
        await nativeConnection.close();
        await connection.close();
      },
    };
  } catch (err) {
    for (const resource of opened.reverse()) await resource.close().catch(() => undefined);
    throw err;
  }
}

/** Worker child processes started by {@link createWorkerProcesses}. */
export interface WorkerProcesses {
  /**
   * Starts `src/workers/main.ts` as a child process serving `queue`, with a 1 s shutdown grace. Resolves once it
   * logs its `serving …` line; rejects, with its stderr so far, if it exits first.
   */
  start(queue: string, env?: Readonly<Record<string, string>>): Promise<ChildProcess>;
  /** Kills `child` with SIGKILL and resolves once it has exited. */
  kill(child: ChildProcess): Promise<void>;
  /** Kills with SIGKILL every child started here that is still running; waits for none. */
  killAll(): void;
}

/**
 * Worker child processes, for tests that kill a worker or measure one's memory; call `killAll` from `afterAll`.
 * The children inherit this process's environment and load the workflow bundle at `bundlePath` (by default the
 * one the Jest global setup built for the run).
 */
export function createWorkerProcesses(options: { bundlePath?: string } = {}): WorkerProcesses {
  const bundlePath = options.bundlePath ?? stackTestEnv().ASSAY_TEST_WORKFLOW_BUNDLE;
  const children: ChildProcess[] = [];
  return {
    start(queue, env = {}) {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/workers/main.ts'], {
        cwd: process.cwd(),
        env: {
          ...process.env,
          ASSAY_TASK_QUEUE: queue,
          ASSAY_WORKFLOW_BUNDLE: bundlePath,
          ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS: '1',
          // Throwaway queues: no retention schedule or cluster monitor is left behind for them.
          ASSAY_RETENTION_SETUP: 'false',
          ASSAY_CLUSTER_MONITOR: 'false',
          ...env,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      children.push(child);
      let output = '';
      return new Promise((resolve, reject) => {
        child.stderr?.on('data', (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes('"msg":"serving ')) resolve(child);
        });
        child.on('exit', (code) => reject(new Error(`worker exited with ${code}: ${output}`)));
      });
    },
    async kill(child) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    killAll() {
      for (const child of children)
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
  };
}

/** A fresh idempotency key (and so evaluation id): `label` and a random suffix. */
export function newId(label: string): string {
  return `${label}-${ulid().toLowerCase().slice(-12)}`;
}

/**
 * A builder of EvaluationJob manifests for `team`, submitted by user `tester`: the spec holds `defaults`, then
 * what the builder is given (which wins).
 */
export function manifestBuilder(options: {
  team: string;
  defaults: Record<string, unknown>;
}): (spec: Record<string, unknown>) => Record<string, unknown> {
  return (spec) => ({
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    metadata: {},
    spec: { team: options.team, user: 'tester', ...options.defaults, ...spec },
  });
}
