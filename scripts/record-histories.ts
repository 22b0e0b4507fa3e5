/**
 * Re-records the histories that the workflow tier replays (test/workflows/histories/*.binpb): one real evaluation per
 * outcome on the local stack, and one run of the janitor (`janitor`: a dry run over the replay namespace), run by
 * worker processes started the production way (`src/workers/main.ts`, bundling the workflow code itself). Run it
 * after every intended change of workflow code, naming the histories of the workflows that changed:
 *
 *   eval "$(npm run --silent stack -- env)" && npx tsx scripts/record-histories.ts [name …]
 *
 * The histories of before the tracing interceptors are kept in `before-tracing/`, those of before an evaluation could
 * move between clusters in `before-reselection/`: evaluations that started then must still replay.
 *
 * Histories are saved in binary protobuf (this install's `historyToJSON` meets two protobufjs versions and fails).
 * Prints each scenario's outcome and history length; exits non-zero if a scenario did not end as expected.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { ulid } from 'ulid';
import { AssayClient } from '../src/client/assay-client.js';
import { createKubeClients, type KubeClients } from '../src/kube/clients.js';
import { labelKeys } from '../src/spec/kube-labels.js';
import { evaluationWorkflowId } from '../src/spec/names.js';
import type { Outcome } from '../src/spec/record.js';
import { startWorkerProcess } from '../src/workers/child-process.js';
import { localStackCollector } from '../src/workers/config.js';
import { startTelemetry } from '../src/telemetry/sdk.js';
import { tracingClientInterceptors } from '../src/telemetry/temporal.js';

const historiesDir = join(process.cwd(), 'test', 'workflows', 'histories');
const team = 'replay';
const namespace = `assay-${team}`;

interface Scenario {
  /** File name (without `.binpb`). */
  readonly name: string;
  readonly expect: Outcome;
  readonly spec: Record<string, unknown>;
  /** What to do once the first attempt's main container runs. */
  readonly whileRunning?: (ctx: ScenarioContext) => Promise<void>;
  /** Minimum number of attempts the record must show. */
  readonly attempts?: number;
  /** A worker config of its own (written to a file for `ASSAY_WORKER_CONFIG`) and extra environment. */
  readonly worker?: { readonly config: Record<string, unknown>; readonly env?: Record<string, string> };
}

interface ScenarioContext {
  readonly evaluationId: string;
  readonly pod: string;
  readonly client: AssayClient;
  readonly kube: KubeClients;
  readonly workers: WorkerGroup;
}

const busybox = 'localhost/assay/busybox:1.35';

const scenarios: Scenario[] = [
  {
    name: 'succeeded',
    expect: 'Succeeded',
    spec: { command: ['sh', '-c', 'echo out; echo err >&2; echo \'{"score": 1}\' > /dev/termination-log'] },
  },
  { name: 'failed', expect: 'Failed', spec: { command: ['sh', '-c', 'echo failing; exit 3'] } },
  {
    name: 'timed-out',
    expect: 'TimedOut',
    spec: { command: ['sh', '-c', 'echo start; sleep 10; echo end'], timeoutSeconds: 2 },
  },
  {
    name: 'cancelled',
    expect: 'Cancelled',
    spec: { command: ['sleep', '60'] },
    whileRunning: ({ client, evaluationId }) => client.cancel(evaluationId),
  },
  {
    name: 'configuration-error',
    expect: 'ConfigurationError',
    spec: { image: 'localhost/assay/absent:1', command: ['true'] },
  },
  {
    name: 'infrastructure-retried',
    expect: 'Succeeded',
    attempts: 2,
    spec: { command: ['sh', '-c', 'sleep 2; echo done'] },
    whileRunning: async ({ kube, pod }) => {
      await kube.core.deleteNamespacedPod({ name: pod, namespace, gracePeriodSeconds: 1 });
    },
  },
  {
    // Every webhook event is handed over (queued, started, retrying, succeeded): the child start and the signals.
    // `localhost` is not allow-listed for these workers, so the deliveries are refused and nothing is sent.
    name: 'webhooks',
    expect: 'Succeeded',
    attempts: 2,
    spec: {
      command: ['sh', '-c', 'sleep 2; echo done'],
      webhooks: [
        { url: 'http://localhost:9/hook', events: ['queued', 'started', 'retrying', 'succeeded'] },
        { url: 'http://localhost:9/other', events: ['started'] },
      ],
    },
    whileRunning: async ({ kube, pod }) => {
      await kube.core.deleteNamespacedPod({ name: pod, namespace, gracePeriodSeconds: 1 });
    },
  },
  {
    name: 'worker-killed',
    expect: 'Succeeded',
    spec: { command: ['sh', '-c', 'for i in 1 2 3 4 5 6; do echo $i; sleep 1; done'] },
    whileRunning: async ({ workers }) => {
      await workers.restart();
    },
  },
  {
    // Placed first on `gone` (the same cluster under another name, whose queue no worker serves): its Job is never
    // created, the attempt ends ClusterWorkerLost after lostClusterSeconds, and the evaluation moves to `local`.
    name: 'moved',
    expect: 'Succeeded',
    attempts: 2,
    spec: { command: ['sh', '-c', 'echo moved'] },
    worker: {
      config: {
        clusters: [
          { name: 'gone', kubeconfig: { path: process.env.KUBECONFIG ?? null } },
          { name: 'local', kubeconfig: { path: process.env.KUBECONFIG ?? null }, collector: localStackCollector },
        ],
        serveClusters: ['local'],
        placement: { lostClusterSeconds: 5 },
      },
      // Registry order, so `gone` is chosen (the monitor would see it has no worker).
      env: { ASSAY_CLUSTER_MONITOR: 'false' },
    },
  },
  {
    name: 'artifacts-collected',
    expect: 'Succeeded',
    spec: {
      command: [
        'sh',
        '-c',
        'mkdir -p "$ASSAY_ARTIFACTS_DIR/sub" && echo a > "$ASSAY_ARTIFACTS_DIR/a.txt" && ' +
          'echo b > "$ASSAY_ARTIFACTS_DIR/sub/b.txt" && echo \'{"ok": true}\' > "$ASSAY_RESULT_PATH"',
      ],
      artifacts: { maxFiles: 10, maxBytes: '1Mi' },
      result: { maxBytes: '64Ki' },
      resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '256Mi' },
    },
  },
];

/** One worker child process on `queue`; `restart` SIGKILLs it and starts another. */
interface WorkerGroup {
  restart(): Promise<void>;
  stop(): void;
}

function startWorker(queue: string, env: Record<string, string>): Promise<ChildProcess> {
  // A throwaway queue: no retention or janitor schedule is left behind for it.
  return startWorkerProcess(queue, {
    ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS: '1',
    ASSAY_RETENTION_SETUP: 'false',
    ASSAY_JANITOR_SETUP: 'false',
    ...env,
  });
}

async function workerGroup(queue: string, worker?: Scenario['worker']): Promise<WorkerGroup> {
  const env: Record<string, string> = { ...worker?.env };
  if (worker !== undefined) {
    const dir = await mkdtemp(join(tmpdir(), 'assay-replay-'));
    env.ASSAY_WORKER_CONFIG = join(dir, 'worker-config.json');
    await writeFile(env.ASSAY_WORKER_CONFIG, JSON.stringify(worker.config));
  }
  let child = await startWorker(queue, env);
  return {
    async restart() {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
      child = await startWorker(queue, env);
    },
    stop() {
      child.kill('SIGTERM');
    },
  };
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 90_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function runningPod(kube: KubeClients, evaluationId: string): Promise<string> {
  return until(`a running pod of ${evaluationId}`, async () => {
    const pods = await kube.core.listNamespacedPod({
      namespace,
      labelSelector: `${labelKeys.evaluationId}=${evaluationId},${labelKeys.attempt}=1`,
    });
    return pods.items.find((p) =>
      p.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running !== undefined),
    )?.metadata?.name;
  });
}

async function record(scenario: Scenario, connection: Connection, kube: KubeClients): Promise<string> {
  const queue = `assay-replay-${ulid().toLowerCase().slice(-10)}`;
  const workers = await workerGroup(queue, scenario.worker);
  try {
    const client = new AssayClient(new Client({ connection, interceptors: tracingClientInterceptors() }), {
      taskQueue: queue,
    });
    const evaluationId = `${scenario.name}-${ulid().toLowerCase().slice(-8)}`;
    await client.start(
      {
        apiVersion: 'assay.dev/v1',
        kind: 'EvaluationJob',
        metadata: { labels: { purpose: 'replay' } },
        spec: {
          team,
          user: 'recorder',
          image: busybox,
          resources: { cpu: '100m', memory: '64Mi' },
          retries: { maxAttempts: 3, backoffSeconds: 1 },
          ...scenario.spec,
        },
      },
      { idempotencyKey: evaluationId },
    );
    if (scenario.whileRunning !== undefined) {
      const pod = await runningPod(kube, evaluationId);
      await scenario.whileRunning({ evaluationId, pod, client, kube, workers });
    }
    const result = await client.result(evaluationId);
    const history = await client.temporal.workflow
      .getHandle(evaluationWorkflowId(evaluationId))
      .fetchHistory();
    const events = history.events?.length ?? 0;
    const ok = result.outcome === scenario.expect && result.attempts.length >= (scenario.attempts ?? 1);
    if (!ok) {
      throw new Error(
        `${scenario.name}: expected ${scenario.expect} in ≥ ${scenario.attempts ?? 1} attempts, got ` +
          `${result.outcome} (${result.reason}: ${result.message}) in ${result.attempts.length}`,
      );
    }
    await writeFile(
      join(historiesDir, `${scenario.name}.binpb`),
      proto.temporal.api.history.v1.History.encode(history).finish(),
    );
    return `${scenario.name.padEnd(24)} ${result.outcome.padEnd(20)} attempts ${result.attempts.length}  events ${events}`;
  } finally {
    workers.stop();
  }
}

/** The janitor's history: one run as its schedule starts it, a dry run (nothing changed) over the replay namespace. */
const janitorHistory = 'janitor';

async function recordJanitor(connection: Connection): Promise<string> {
  const queue = `assay-replay-${ulid().toLowerCase().slice(-10)}`;
  const workers = await workerGroup(queue);
  try {
    const client = new Client({ connection, interceptors: tracingClientInterceptors() });
    const handle = await client.workflow.start('janitor', {
      taskQueue: queue,
      workflowId: `janitor-replay-${ulid().toLowerCase().slice(-8)}`,
      args: [{ clusters: ['local'], dryRun: true, namespace }],
    });
    await handle.result();
    const history = await handle.fetchHistory();
    await writeFile(
      join(historiesDir, `${janitorHistory}.binpb`),
      proto.temporal.api.history.v1.History.encode(history).finish(),
    );
    return `${janitorHistory.padEnd(24)} ${'completed'.padEnd(20)} events ${history.events?.length ?? 0}`;
  } finally {
    workers.stop();
  }
}

async function main(): Promise<void> {
  // Recorded as production runs them: traced from the client (the worker processes trace too, with the stack's
  // OTEL_EXPORTER_OTLP_ENDPOINT), so the histories carry the tracing interceptors' headers.
  const telemetry = startTelemetry({ serviceName: 'assay-record-histories' });
  try {
    await recordAll();
  } finally {
    await telemetry.shutdown();
  }
}

async function recordAll(): Promise<void> {
  const only = process.argv.slice(2);
  const chosen = only.length === 0 ? scenarios : scenarios.filter((s) => only.includes(s.name));
  const janitor = only.length === 0 || only.includes(janitorHistory);
  if (chosen.length === 0 && !janitor) throw new Error(`no scenario named ${only.join(', ')}`);
  await mkdir(historiesDir, { recursive: true });
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  try {
    const results = await Promise.allSettled([
      ...chosen.map((s) => record(s, connection, kube)),
      ...(janitor ? [recordJanitor(connection)] : []),
    ]);
    let failed = 0;
    for (const r of results) {
      if (r.status === 'fulfilled') console.log(r.value);
      else {
        failed++;
        console.error(r.reason instanceof Error ? r.reason.message : String(r.reason));
      }
    }
    if (failed > 0) process.exitCode = 1;
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
