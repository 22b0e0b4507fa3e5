import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ChildProcess } from 'node:child_process';
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { AssayClient } from '../src/client/assay-client.js';
import { buildJob, attemptSelector } from '../src/activities/job-manifest.js';
import { createKubeClients, openGet } from '../src/kube/clients.js';
import { watchUntil } from '../src/kube/watch.js';
import { jobRequestFor, planEvaluation } from '../src/spec/plan.js';
import { evaluationWorkflowId } from '../src/spec/names.js';
import { startWorkerProcess } from '../src/workers/child-process.js';
import { startTelemetry } from '../src/telemetry/sdk.js';
import { tracingClientInterceptors } from '../src/telemetry/temporal.js';
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
//
// With --tracing it measures instead what OpenTelemetry tracing adds (goal: ≤ 3 % end-to-end time, ≤ 5 % worker CPU):
// two Assay variants side by side in the same run, each with a worker process of its own on a task queue of its own,
//  - off: the worker with ASSAY_TRACING=false, a client without the tracing interceptors whose `submit` span is
//         suppressed (no span; the workflow's interceptors still give the unsampled trace an id, which the record
//         carries, but nothing of it reaches the trace store, which the bench checks);
//  - on:  the worker with OTEL_EXPORTER_OTLP_ENDPOINT (the stack's trace store) and ASSAY_TRACE_SAMPLING_RATIO=1,
//         a client with the tracing interceptors in this process, whose spans are exported too (service assay-bench);
// interleaved (off/on, then on/off, …) so that drift hits both alike: --sequential (default 20) one at a time, then
// --rounds (default 2) batches of --concurrent (default 20) at once per variant. Per variant: end-to-end p50/p95, the
// concurrent batches' wall time, the worker's CPU seconds per evaluation (over each whole phase, so each worker's idle
// background while the other variant runs counts alike), its idle CPU and its RSS; then the first record of each
// variant is looked up in the trace store ($ASSAY_TRACES_UI): the on one's spans are counted, the off one is absent.
//   eval "$(npm run --silent stack -- env)" && npx tsx bench/overhead.ts --tracing

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

/** CPU seconds the whole machine has spent busy (every core; /proc/stat, all but idle and iowait). */
async function machineBusySeconds(): Promise<number> {
  const cpu = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal …
  const busy = cpu[0]! + cpu[1]! + cpu[2]! + cpu[5]! + cpu[6]! + cpu[7]!;
  return busy / 100;
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
    .option('--sequential <n>', 'evaluations one after another (per variant with --tracing)', '20')
    .option('--concurrent <n>', 'evaluations at once (default 50; 20 per variant and round with --tracing)')
    .option(
      '--tracing',
      'compare Assay with tracing on (ratio 1.0) and off instead of Assay and the bare Job path',
    )
    .option('--rounds <n>', 'with --tracing: concurrent batches per variant', '2')
    .parse();
  const opts = program.opts<{ sequential: string; concurrent?: string; tracing?: boolean; rounds: string }>();
  const sequential = Number(opts.sequential);
  const concurrent = Number(opts.concurrent ?? (opts.tracing === true ? 20 : 50));

  Runtime.install({ logger: new DefaultLogger('WARN') });
  if (opts.tracing === true) {
    await tracingComparison({ sequential, concurrent, rounds: Number(opts.rounds) });
    return;
  }
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
    const busy0 = await machineBusySeconds();
    const t0 = performance.now();
    const conAssay = await Promise.all(Array.from({ length: concurrent }, () => assayOnce()));
    const assayWall = performance.now() - t0;
    const busy1 = await machineBusySeconds();
    const conUsage1 = await usage(workerPid);
    const t1 = performance.now();
    const conBare = await Promise.all(Array.from({ length: concurrent }, () => bareOnce()));
    const bareWall = performance.now() - t1;
    const busy2 = await machineBusySeconds();
    report(`${concurrent} concurrent`, stats(conAssay.map((r) => r.ms)), stats(conBare));
    lines.push(
      `${''.padEnd(14)} wall: assay ${secs(assayWall)}, bare ${secs(bareWall)}, ratio ${(assayWall / bareWall).toFixed(2)}×`,
    );
    // On one machine the cluster, Temporal, S3 and the worker share the cores: when the bare path already keeps them
    // busy, every CPU-second Assay adds lengthens the wall time.
    const cores = availableParallelism();
    const busyLine = (label: string, cpuS: number, wallMs: number): string =>
      `${label} ${cpuS.toFixed(1)} CPU s (${(cpuS / concurrent).toFixed(2)} per evaluation, ` +
      `${((cpuS / (cores * (wallMs / 1000))) * 100).toFixed(0)}% of ${cores} cores)`;
    lines.push(
      `${''.padEnd(14)} machine busy: ${busyLine('assay', busy1 - busy0, assayWall)}; ` +
        `${busyLine('bare', busy2 - busy1, bareWall)}`,
    );
    // The slowest evaluations by id, so an outlier that sets the wall time can be looked up in Temporal.
    const slowest = [...conAssay].sort((a, b) => b.ms - a.ms).slice(0, 3);
    lines.push(`${''.padEnd(14)} slowest: ${slowest.map((r) => `${r.id} ${secs(r.ms)}`).join(', ')}`);
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

interface Variant {
  readonly name: 'off' | 'on';
  readonly worker: ChildProcess;
  readonly pid: number;
  readonly run: () => Promise<{ ms: number; id: string; traceId: string | null }>;
  readonly sequential: number[];
  readonly concurrent: number[];
  readonly walls: number[];
  readonly traceIds: (string | null)[];
  /** Worker CPU seconds over each phase (whole phase: the other variant's turns included, as are late span exports). */
  cpu: { idlePerSecond: number; sequential: number; concurrent: number };
}

/** `--tracing`: Assay with tracing off and on, interleaved in one run (see the header). */
async function tracingComparison(o: {
  sequential: number;
  concurrent: number;
  rounds: number;
}): Promise<void> {
  const endpoint = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  const tracesUi = process.env.ASSAY_TRACES_UI;
  if (endpoint === undefined || tracesUi === undefined)
    throw new Error(
      '--tracing needs OTEL_EXPORTER_OTLP_ENDPOINT and ASSAY_TRACES_UI: eval "$(npm run --silent stack -- env)"',
    );
  const load = (): string =>
    loadavg()
      .map((l) => l.toFixed(2))
      .join(' ');
  const loadStart = load();
  process.stdout.write(`load average at start: ${loadStart}\n`);
  // This process's spans (the `submit` roots) are kept at ratio 1, as the on worker's.
  const telemetry = startTelemetry({
    serviceName: 'assay-bench',
    env: { ...process.env, ASSAY_TRACING: 'true', ASSAY_TRACE_SAMPLING_RATIO: '1' },
  });
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const temporalNamespace = process.env.TEMPORAL_NAMESPACE ?? 'default';
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  // One identity for both workers (as in the default mode); each worker its own task queue.
  const identity = await createClientIdentity(kube, `assay-bench-worker-${tag}`);
  const common = { ASSAY_RETENTION_SETUP: 'false', KUBECONFIG: identity.kubeconfigPath };
  const connection = await Connection.connect({ address });
  const workers: ChildProcess[] = [];
  try {
    const offQueue = `assay-bench-${tag}-off`;
    const onQueue = `assay-bench-${tag}-on`;
    const [offWorker, onWorker] = await Promise.all([
      startWorkerProcess(offQueue, { ...common, ASSAY_TRACING: 'false' }),
      startWorkerProcess(onQueue, {
        ...common,
        ASSAY_TRACING: 'true',
        OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
        ASSAY_TRACE_SAMPLING_RATIO: '1',
      }),
    ]);
    workers.push(offWorker, onWorker);
    const offClient = new AssayClient(new Client({ connection, namespace: temporalNamespace }), {
      taskQueue: offQueue,
    });
    const onClient = new AssayClient(
      new Client({ connection, namespace: temporalNamespace, interceptors: tracingClientInterceptors() }),
      { taskQueue: onQueue },
    );
    const runner =
      (client: AssayClient, traced: boolean): Variant['run'] =>
      async () => {
        const id = `b-${ulid().toLowerCase()}`;
        const t0 = performance.now();
        const start = (): Promise<unknown> => client.start(manifest(), { idempotencyKey: id });
        // Off: the global tracer is the SDK's (this process traces the on client), so its submit span is suppressed.
        await (traced ? start() : context.with(suppressTracing(context.active()), start));
        const record = await client.result(id);
        const ms = performance.now() - t0;
        if (record.outcome !== 'Succeeded')
          throw new Error(`assay run ${id}: ${record.outcome} ${record.reason}`);
        return { ms, id, traceId: record.traceId ?? null };
      };
    const variant = (name: Variant['name'], worker: ChildProcess, client: AssayClient): Variant => ({
      name,
      worker,
      pid: worker.pid!,
      run: runner(client, name === 'on'),
      sequential: [],
      concurrent: [],
      walls: [],
      traceIds: [],
      cpu: { idlePerSecond: NaN, sequential: NaN, concurrent: NaN },
    });
    const off = variant('off', offWorker, offClient);
    const on = variant('on', onWorker, onClient);
    const both = [off, on];
    const cpuOf = async (v: Variant): Promise<number> => (await usage(v.pid)).cpuSeconds;

    // Warm-up (namespace, ServiceAccount, image, JIT, the trace exporter's connection), then the idle background.
    for (const v of both) await v.run();
    await sleep(3000);
    const idle0 = await Promise.all(both.map(cpuOf));
    const idleMs = 15_000;
    await sleep(idleMs);
    const idle1 = await Promise.all(both.map(cpuOf));
    both.forEach((v, i) => (v.cpu.idlePerSecond = (idle1[i]! - idle0[i]!) / (idleMs / 1000)));

    const seq0 = await Promise.all(both.map(cpuOf));
    const seqT0 = performance.now();
    for (let i = 0; i < o.sequential; i++) {
      for (const v of i % 2 === 0 ? [off, on] : [on, off]) {
        const r = await v.run();
        v.sequential.push(r.ms);
        v.traceIds.push(r.traceId);
      }
    }
    await sleep(2000); // the on worker's last batch of spans (exported every second)
    const seq1 = await Promise.all(both.map(cpuOf));
    const seqSeconds = (performance.now() - seqT0) / 1000;
    both.forEach((v, i) => (v.cpu.sequential = seq1[i]! - seq0[i]!));

    const con0 = await Promise.all(both.map(cpuOf));
    const conT0 = performance.now();
    for (let r = 0; r < o.rounds; r++) {
      for (const v of r % 2 === 0 ? [off, on] : [on, off]) {
        const t0 = performance.now();
        const runs = await Promise.all(Array.from({ length: o.concurrent }, () => v.run()));
        v.walls.push(performance.now() - t0);
        v.concurrent.push(...runs.map((x) => x.ms));
        v.traceIds.push(...runs.map((x) => x.traceId));
      }
    }
    await sleep(2000);
    const con1 = await Promise.all(both.map(cpuOf));
    const conSeconds = (performance.now() - conT0) / 1000;
    both.forEach((v, i) => (v.cpu.concurrent = con1[i]! - con0[i]!));
    const mem = await Promise.all(both.map((v) => usage(v.pid)));
    const loadEnd = load();

    // Did the on variant really trace, and the off one not? One record of each, read back from the trace store.
    // (An off record still has a traceId: the workflow sandbox's interceptors run either way and give an unsampled
    // trace an id, docs/observability.md "Sampling"; off means nothing of it is recorded.)
    const inStore = async (traceId: string | null): Promise<string> => {
      if (traceId === null) return 'traceId null';
      const res = await fetch(`${tracesUi.replace(/\/+$/, '')}/api/traces/${traceId}`);
      if (res.status === 404) return `trace ${traceId}: not in the trace store`;
      if (!res.ok) return `trace ${traceId}: HTTP ${res.status}`;
      const body = (await res.json()) as {
        data?:
          { spans: { processID: string }[]; processes: Record<string, { serviceName: string }> }[] | null;
      };
      const t = body.data?.[0];
      const services = new Map<string, number>();
      for (const sp of t?.spans ?? []) {
        const svc = t?.processes[sp.processID]?.serviceName ?? '?';
        services.set(svc, (services.get(svc) ?? 0) + 1);
      }
      return (
        `trace ${traceId}: ${t?.spans.length ?? 0} spans in the trace store (` +
        [...services].map(([k, v]) => `${k} ${v}`).join(', ') +
        `)`
      );
    };
    await sleep(3000); // the last spans' export (batches every second)
    const onTrace = await inStore(on.traceIds[0] ?? null);
    const offTrace = await inStore(off.traceIds[0] ?? null);

    const n = o.sequential + o.rounds * o.concurrent;
    const pct = (a: number, b: number): string => `${b >= a ? '+' : ''}${((b / a - 1) * 100).toFixed(1)} %`;
    const rows: [string, number, number, (x: number) => string][] = [];
    const ms = (x: number): string => secs(x);
    const cpuS = (x: number): string => `${x.toFixed(3)} s`;
    const mib = (x: number): string => `${x.toFixed(0)} MiB`;
    const seqS = both.map((v) => stats(v.sequential));
    const conS = both.map((v) => stats(v.concurrent));
    const wall = both.map((v) => total(v.walls) / v.walls.length);
    rows.push([`${o.sequential} sequential  e2e p50`, seqS[0]!.p50, seqS[1]!.p50, ms]);
    rows.push([`${o.sequential} sequential  e2e p95`, seqS[0]!.p95, seqS[1]!.p95, ms]);
    rows.push([`${o.concurrent} at once ×${o.rounds}  e2e p50`, conS[0]!.p50, conS[1]!.p50, ms]);
    rows.push([`${o.concurrent} at once ×${o.rounds}  e2e p95`, conS[0]!.p95, conS[1]!.p95, ms]);
    rows.push([`${o.concurrent} at once  wall (mean)`, wall[0]!, wall[1]!, ms]);
    const gross = (v: Variant): number => (v.cpu.sequential + v.cpu.concurrent) / n;
    rows.push([
      'worker CPU/eval, sequential',
      off.cpu.sequential / o.sequential,
      on.cpu.sequential / o.sequential,
      cpuS,
    ]);
    rows.push([
      'worker CPU/eval, at once',
      off.cpu.concurrent / (o.rounds * o.concurrent),
      on.cpu.concurrent / (o.rounds * o.concurrent),
      cpuS,
    ]);
    rows.push([`worker CPU/eval, all ${n}`, gross(off), gross(on), cpuS]);
    rows.push(['worker idle CPU per s (15 s)', off.cpu.idlePerSecond, on.cpu.idlePerSecond, cpuS]);
    rows.push(['worker RSS at end', mem[0]!.rssMiB, mem[1]!.rssMiB, mib]);
    rows.push(['worker peak RSS', mem[0]!.peakMiB, mem[1]!.peakMiB, mib]);
    const w = 32;
    const lines = [
      `${''.padEnd(w)} ${'off'.padStart(10)} ${'on'.padStart(10)} ${'on/off'.padStart(8)} ${'added'.padStart(9)}`,
      ...rows.map(
        ([label, a, b, f]) =>
          `${label.padEnd(w)} ${f(a).padStart(10)} ${f(b).padStart(10)} ${`${(b / a).toFixed(3)}×`.padStart(8)} ${pct(a, b).padStart(9)}`,
      ),
    ];
    const timeAdded = Math.max(seqS[1]!.p50 / seqS[0]!.p50, wall[1]! / wall[0]!) - 1;
    const cpuAdded = gross(on) / gross(off) - 1;
    const withOff = off.traceIds.filter((t) => t !== null).length;
    const withOn = on.traceIds.filter((t) => t !== null).length;
    process.stdout.write(
      `\nTracing overhead on a trivial evaluation (busybox 'echo ok'): off vs on (ratio 1.0), interleaved, ` +
        `${n} evaluations per variant (+1 warm-up)\n${lines.join('\n')}\n` +
        `goals: end-to-end time ≤ 3 % (worst of sequential p50 and wall: ${pct(1, 1 + timeAdded)}) ` +
        `${timeAdded <= 0.03 ? 'met' : 'NOT met'}; worker CPU ≤ 5 % (all: ${pct(1, 1 + cpuAdded)}) ` +
        `${cpuAdded <= 0.05 ? 'met' : 'NOT met'}\n` +
        `records with a traceId: on ${withOn}/${on.traceIds.length}, off ${withOff}/${off.traceIds.length}\n` +
        `on, first record:  ${onTrace}\noff, first record: ${offTrace}\n` +
        `phases: sequential ${seqSeconds.toFixed(0)} s, at once ${conSeconds.toFixed(0)} s; ` +
        `load average at start ${loadStart}, at end ${loadEnd}\n`,
    );
  } finally {
    for (const wk of workers) wk.kill('SIGTERM');
    await telemetry.shutdown();
    await identity.remove();
    await connection.close();
    await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
}

function total(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

main().catch((err: unknown) => {
  process.stderr.write(`overhead: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
