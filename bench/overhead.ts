import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { AssayClient } from '../src/client/assay-client.js';
import { buildJob, attemptSelector } from '../src/activities/job-manifest.js';
import { createKubeClients, openGet } from '../src/kube/clients.js';
import { watchUntil } from '../src/kube/watch.js';
import { jobRequestFor, planEvaluation } from '../src/spec/plan.js';
import { evaluationWorkflowId } from '../src/spec/names.js';
import { startWorkerProcess } from '../src/workers/child-process.js';
import { diff, scrapeRequests, sum, top, type Counts } from './support/apiserver-requests.js';
import { createClientIdentity } from './support/client-identity.js';

// Benchmark: Assay's overhead for a trivial evaluation (prints figures; asserts nothing). Per round, the same
// trivial Job runs two ways on the same cluster in the same run:
//  - assay: AssayClient.start → result (the record is stored before the result returns): validate, select cluster,
//           namespace, create Job, watch to the end, store the split logs, clean up, write the record;
//  - bare:  create the same Job (without Assay's pod finalizer) with the API, watch its pod to the end, read its log
//           (the Job is then deleted, untimed).
// Both sequentially (--sequential, default 20) and all at once (--concurrent, default 50); p50/p95 and their ratio;
// Temporal history events per evaluation; Kubernetes API requests per evaluation as the API server counts them
// (apiserver_request_total, all clients: kubelet and controllers included, the same for both paths), and the worker's
// own, which the API server counts under a FlowSchema that matches only the worker's ServiceAccount; the worker's
// CPU seconds and memory per evaluation (it runs in its own process, as `npm run worker`, this process is the client).
// Needs the local stack: eval "$(npm run --silent stack -- env)".

/** CPU seconds (user + system) and resident memory of process `pid`, from /proc. */
async function usage(pid: number): Promise<{ cpuSeconds: number; rssMiB: number; peakMiB: number }> {
  const stat = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  // Fields 14 and 15 (utime, stime) in clock ticks of 1/100 s, counted from field 3 after the name.
  const ticks = Number(stat[11]) + Number(stat[12]);
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (name: string): number =>
    Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { cpuSeconds: ticks / 100, rssMiB: kib('VmRSS') / 1024, peakMiB: kib('VmHWM') / 1024 };
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
  // The worker as a user runs it, in its own process, under an identity of its own whose requests the API server
  // counts; no retention schedule for the bench's queue.
  const identity = await createClientIdentity(kube, `assay-bench-worker-${tag}`);
  const worker = await startWorkerProcess(taskQueue, {
    ASSAY_RETENTION_SETUP: 'false',
    KUBECONFIG: identity.kubeconfigPath,
  });
  const workerPid = worker.pid!;
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

  async function history(id: string): Promise<{ events: number; bytes: number }> {
    const d = await client.temporal.workflow.getHandle(evaluationWorkflowId(id)).describe();
    return { events: d.historyLength, bytes: d.historySize ?? NaN };
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
    const historyBytes: number[] = [];
    const assayCounts: Counts[] = [];
    const workerRequests: number[] = [];
    const bareCounts: Counts[] = [];
    const seqUsage0 = await usage(workerPid);
    for (let i = 0; i < sequential; i++) {
      const own0 = await identity.requests();
      let before = await scrapeRequests(kube);
      const run = await assayOnce();
      let after = await scrapeRequests(kube);
      workerRequests.push((await identity.requests()) - own0);
      assayCounts.push(diff(after, before));
      seqAssay.push(run.ms);
      const h = await history(run.id);
      histories.push(h.events);
      historyBytes.push(h.bytes);
      before = after;
      seqBare.push(await bareOnce());
      after = await scrapeRequests(kube);
      bareCounts.push(diff(after, before));
    }
    const seqUsage1 = await usage(workerPid);
    report(`${sequential} sequential`, stats(seqAssay), stats(seqBare));

    const conUsage0 = await usage(workerPid);
    const t0 = performance.now();
    const conAssay = await Promise.all(Array.from({ length: concurrent }, () => assayOnce()));
    const assayWall = performance.now() - t0;
    const conUsage1 = await usage(workerPid);
    const t1 = performance.now();
    const conBare = await Promise.all(Array.from({ length: concurrent }, () => bareOnce()));
    const bareWall = performance.now() - t1;
    report(`${concurrent} concurrent`, stats(conAssay.map((r) => r.ms)), stats(conBare));
    lines.push(
      `${''.padEnd(14)} wall: assay ${secs(assayWall)}, bare ${secs(bareWall)}, ratio ${(assayWall / bareWall).toFixed(2)}×`,
    );
    const h = stats(histories);
    lines.push(
      `history per evaluation: events p50 ${h.p50}, max ${Math.max(...histories)}; bytes p50 ${stats(historyBytes).p50}`,
    );
    const merged = (all: Counts[]): Counts => {
      const m: Counts = new Map();
      for (const c of all) for (const [k, v] of c) m.set(k, (m.get(k) ?? 0) + v);
      return m;
    };
    const perRun = (all: Counts[], withoutLogs: boolean): number =>
      stats(
        all.map(
          (c) => sum(c) - (withoutLogs ? (c.get('CONNECT pods/log') ?? 0) + (c.get('GET pods/log') ?? 0) : 0),
        ),
      ).p50;
    lines.push(
      `API requests per evaluation, counted by the API server (all clients; p50 of ${sequential} sequential runs): ` +
        `assay ${perRun(assayCounts, false)} (${perRun(assayCounts, true)} without the log streams), ` +
        `bare ${perRun(bareCounts, false)} (${perRun(bareCounts, true)} without)`,
    );
    lines.push(
      `  the worker's own requests per evaluation, counted by the API server (its FlowSchema; log streams and exec ` +
        `are not counted): p50 ${stats(workerRequests).p50}, max ${Math.max(...workerRequests)}`,
    );
    lines.push(`  assay by verb/resource: ${top(merged(assayCounts), sequential)}`);
    lines.push(`  bare by verb/resource:  ${top(merged(bareCounts), sequential)}`);
    lines.push(
      `worker process: ${((seqUsage1.cpuSeconds - seqUsage0.cpuSeconds) / sequential).toFixed(3)} CPU s per evaluation ` +
        `(sequential), ${((conUsage1.cpuSeconds - conUsage0.cpuSeconds) / concurrent).toFixed(3)} (concurrent); ` +
        `RSS ${conUsage1.rssMiB.toFixed(0)} MiB, peak ${conUsage1.peakMiB.toFixed(0)} MiB`,
    );
    process.stdout.write(
      `\nAssay overhead on a trivial evaluation (busybox 'echo ok')\n${lines.join('\n')}\n`,
    );
  } finally {
    worker.kill('SIGTERM');
    await identity.remove();
    await connection.close();
    await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`overhead: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
