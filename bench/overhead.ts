import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { AssayClient } from '../src/client/assay-client.js';
import { buildJob, attemptSelector } from '../src/activities/job-manifest.js';
import { createKubeClients, openGet } from '../src/kube/clients.js';
import { watchUntil } from '../src/kube/watch.js';
import { jobRequestFor, planEvaluation } from '../src/spec/plan.js';
import { evaluationWorkflowId } from '../src/spec/names.js';
import { workerConfigSchema } from '../src/spec/worker-config.js';
import { createS3ObjectStore, loadS3Config } from '../src/storage/index.js';
import { loadWorkflowBundle, startWorkers } from '../src/workers/run.js';

// Benchmark: Assay's overhead for a trivial evaluation (prints figures; asserts nothing). Per round, the same
// trivial Job runs two ways on the same cluster in the same run:
//  - assay: AssayClient.start → result (the record is stored before the result returns): validate, select cluster,
//           namespace, create Job, watch to the end, store the split logs, clean up, write the record;
//  - bare:  create the same Job (without Assay's pod finalizer) with the API, watch its pod to the end, read its log
//           (the Job is then deleted, untimed).
// Both sequentially (--sequential, default 20) and all at once (--concurrent, default 50); p50/p95 and their ratio;
// Temporal history events and Kubernetes API requests per evaluation (requests counted at the KubeConfig, which
// every API call, watch and log read goes through; the workers run in this process).
// Needs the local stack: eval "$(npm run --silent stack -- env)".

let kubeRequests = 0;
// Every API call and watch authenticates through applySecurityAuthentication, every raw GET (logs) through
// applyToHTTPSOptions: counting there counts requests.
for (const method of ['applySecurityAuthentication', 'applyToHTTPSOptions'] as const) {
  const original = Reflect.get(KubeConfig.prototype, method) as (
    this: KubeConfig,
    ...args: unknown[]
  ) => Promise<void>;
  Reflect.set(KubeConfig.prototype, method, function (this: KubeConfig, ...args: unknown[]): Promise<void> {
    kubeRequests++;
    return original.apply(this, args);
  });
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

interface Stats {
  p50: number;
  p95: number;
  n: number;
}

function stats(values: number[]): Stats {
  const s = [...values].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p95: percentile(s, 95), n: s.length };
}

const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

const tag = ulid().toLowerCase().slice(-6);
const team = `bench-${tag}`;
const namespace = `assay-${team}`;

function manifest(): Record<string, unknown> {
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    metadata: {},
    spec: {
      team,
      user: 'bench',
      image: 'localhost/assay/busybox:1',
      command: ['sh', '-c', 'echo ok'],
      resources: { cpu: '10m', memory: '32Mi', ephemeralStorage: '16Mi' },
      timeoutSeconds: 120,
      retries: { maxAttempts: 3, backoffSeconds: 1 },
    },
  };
}

async function main(): Promise<void> {
  const program = new Command('overhead')
    .option('--sequential <n>', 'evaluations one after another', '20')
    .option('--concurrent <n>', 'evaluations at once', '50')
    .parse();
  const opts = program.opts<{ sequential: string; concurrent: string }>();
  const sequential = Number(opts.sequential);
  const concurrent = Number(opts.concurrent);

  Runtime.install({ logger: new DefaultLogger('WARN') });
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const temporalNamespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const taskQueue = `assay-bench-${tag}`;
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  const nativeConnection = await NativeConnection.connect({ address });
  const workers = await startWorkers(
    workerConfigSchema.parse({
      temporal: { address, namespace: temporalNamespace },
      taskQueue,
      clusters: [{ name: 'local', kubeconfig: { path: process.env.KUBECONFIG ?? null } }],
      shutdownGraceSeconds: 2,
    }),
    {
      connection: nativeConnection,
      store: createS3ObjectStore(loadS3Config()),
      bundle: await loadWorkflowBundle(),
    },
  );
  const connection = await Connection.connect({ address });
  const client = new AssayClient(new Client({ connection, namespace: temporalNamespace }), { taskQueue });
  const planned = planEvaluation(manifest());
  if (!planned.ok) throw new Error('bench manifest invalid');
  const plan = planned.plan;

  async function assayOnce(): Promise<{ ms: number; id: string }> {
    const id = `b-${ulid().toLowerCase()}`;
    const t0 = performance.now();
    await client.start(manifest(), { idempotencyKey: id });
    const record = await client.result(id);
    const ms = performance.now() - t0;
    if (record.outcome !== 'Succeeded')
      throw new Error(`assay run ${id}: ${record.outcome} ${record.reason}`);
    return { ms, id };
  }

  async function bareOnce(): Promise<number> {
    const id = `b-${ulid().toLowerCase()}`;
    const job = buildJob(
      {
        ...jobRequestFor(plan, {
          evaluationId: id,
          attempt: 1,
          namespace,
          workflowId: 'bare',
          runId: 'bare',
          runtimeClassName: null,
        }),
        labels: { 'assay.dev/bench': 'bare' },
      },
      { collector: null },
    );
    delete job.spec!.template.metadata!.finalizers;
    const name = job.metadata!.name!;
    const selector = attemptSelector(id, 1);
    const t0 = performance.now();
    await kube.batch.createNamespacedJob({ namespace, body: job });
    const pod = await watchUntil<V1Pod, string>(
      kube.watch,
      {
        path: `/api/v1/namespaces/${namespace}/pods`,
        query: { labelSelector: selector },
        list: async () => {
          const l = await kube.core.listNamespacedPod({ namespace, labelSelector: selector });
          return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
      },
      (p) =>
        p.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.terminated !== undefined)
          ? (p.metadata?.name ?? null)
          : null,
      { signal: new AbortController().signal },
    );
    const log = await openGet(kube.config, `/api/v1/namespaces/${namespace}/pods/${pod}/log`, {
      container: 'main',
    });
    for await (const _ of log) {
      // drain
    }
    const ms = performance.now() - t0;
    await kube.batch.deleteNamespacedJob({ name, namespace, propagationPolicy: 'Background' });
    return ms;
  }

  async function historyLength(id: string): Promise<number> {
    return (await client.temporal.workflow.getHandle(evaluationWorkflowId(id)).describe()).historyLength;
  }

  try {
    // Warm-up: creates the namespace and its ServiceAccount, loads the image cache, JITs both paths.
    await assayOnce();
    await bareOnce();

    const lines: string[] = [];
    const report = (label: string, assay: Stats, bare: Stats): void => {
      lines.push(
        `${label.padEnd(14)} assay p50 ${secs(assay.p50)} p95 ${secs(assay.p95)} | bare p50 ${secs(bare.p50)} p95 ${secs(
          bare.p95,
        )} | ratio p50 ${(assay.p50 / bare.p50).toFixed(2)}× p95 ${(assay.p95 / bare.p95).toFixed(2)}× (n=${assay.n})`,
      );
    };

    const seqAssay: number[] = [];
    const seqBare: number[] = [];
    const histories: number[] = [];
    let assayRequests = 0;
    let bareRequests = 0;
    for (let i = 0; i < sequential; i++) {
      let before = kubeRequests;
      const run = await assayOnce();
      assayRequests += kubeRequests - before;
      seqAssay.push(run.ms);
      histories.push(await historyLength(run.id));
      before = kubeRequests;
      seqBare.push(await bareOnce());
      bareRequests += kubeRequests - before;
    }
    report(`${sequential} sequential`, stats(seqAssay), stats(seqBare));

    const t0 = performance.now();
    const conAssay = await Promise.all(Array.from({ length: concurrent }, () => assayOnce()));
    const assayWall = performance.now() - t0;
    const t1 = performance.now();
    const conBare = await Promise.all(Array.from({ length: concurrent }, () => bareOnce()));
    const bareWall = performance.now() - t1;
    report(`${concurrent} concurrent`, stats(conAssay.map((r) => r.ms)), stats(conBare));
    lines.push(`${''.padEnd(14)} wall: assay ${secs(assayWall)}, bare ${secs(bareWall)}`);
    const h = stats(histories);
    lines.push(`history events per evaluation: p50 ${h.p50}, max ${Math.max(...histories)}`);
    lines.push(
      `Kubernetes API requests per evaluation (sequential, incl. watches and log reads): assay ${(
        assayRequests / sequential
      ).toFixed(1)}, bare ${(bareRequests / sequential).toFixed(1)}`,
    );
    process.stdout.write(
      `\nAssay overhead on a trivial evaluation (busybox 'echo ok')\n${lines.join('\n')}\n`,
    );
  } finally {
    workers.shutdown();
    await workers.done;
    await nativeConnection.close();
    await connection.close();
    await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`overhead: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
