/**
 * Benchmark of the log capture (prints figures; asserts nothing). Needs the local stack:
 *   eval "$(npm run --silent stack -- env)"; npx tsx bench/logs.ts [--sizes 100,500]
 *
 * 1. For each size in `--sizes` (MB), a pod writes that much in 100-byte lines to stdout and exits. In the same run, the same log stream is read
 *    twice with the same client: a bare read that discards the bytes, and the capture (the engine the activity runs:
 *    split, event grouping, multipart upload to S3). Throughput of both and their ratio; a second baseline reads both
 *    streams at once the way the split capture does (the kubelet parses the file once per stream), and the CPU seconds
 *    of the kubelet, the API server and the capture process in each phase say where the time goes
 *    (`ASSAY_BENCH_CAPTURE_NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR"` profiles the capture process;
 *    `npx tsx bench/profile-summary.ts DIR/<file>.cpuprofile` sums its self time by package).
 * 2. Peak memory (max RSS) of a process running only the capture, per size: it must not grow with the log's size.
 * 3. Time to first line in follow mode: a pod prints its own clock; `followLogs` shows the line; the difference.
 */
import { spawn } from 'node:child_process';
import { readFile, readdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import type { V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { followLogs } from '../src/client/follow.js';
import { createKubeClients, openGet, type KubeClients } from '../src/kube/clients.js';
import { LogCapture } from '../src/logs/capture.js';
import type { LogSource } from '../src/logs/source.js';
import type { EvaluationStatus } from '../src/spec/record.js';
import { pythonImage } from '../src/stack/images/catalog.js';
import { imageRef } from '../src/stack/images/local-images.js';
import { createS3ObjectStore, loadS3Config, type ObjectStore } from '../src/storage/index.js';

const PYTHON = imageRef(pythonImage);

function kubeClients(): KubeClients {
  return createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
}

function source(kube: KubeClients, namespace: string, pod: string): LogSource {
  return {
    open: (stream, since, follow, signal) =>
      openGet(
        kube.config,
        `/api/v1/namespaces/${namespace}/pods/${pod}/log`,
        {
          container: 'main',
          timestamps: 'true',
          ...(follow ? { follow: 'true' } : {}),
          ...(stream !== null ? { stream } : {}),
          ...(since !== null ? { sinceTime: since } : {}),
        },
        signal,
      ),
    state: async () => {
      const p = await kube.core.readNamespacedPod({ name: pod, namespace });
      const main = p.status?.containerStatuses?.find((c) => c.name === 'main');
      return main?.state?.terminated !== undefined ? 'ended' : 'running';
    },
  };
}

async function capture(
  kube: KubeClients,
  store: ObjectStore,
  namespace: string,
  pod: string,
  prefix: string,
): Promise<{ seconds: number; bytes: number }> {
  const t0 = performance.now();
  const result = await new LogCapture({
    store,
    source: source(kube, namespace, pod),
    keys: {
      stdout: `${prefix}/stdout.log`,
      stderr: `${prefix}/stderr.log`,
      combined: `${prefix}/combined.log`,
      events: `${prefix}/events.ndjson`,
    },
    pod,
    split: true,
    rules: {},
    resume: null,
  }).run({ abort: new AbortController().signal, drain: new AbortController().signal });
  const bytes = (result.files.stdout?.bytes ?? 0) + (result.files.stderr?.bytes ?? 0);
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

/** Reads the given streams of the pod's log at once, discarding the bytes. */
async function bareRead(
  kube: KubeClients,
  namespace: string,
  pod: string,
  streams: readonly ('Stdout' | 'Stderr')[] = ['Stdout'],
): Promise<{ seconds: number; bytes: number }> {
  const t0 = performance.now();
  let bytes = 0;
  await Promise.all(
    streams.map(async (stream) => {
      const response = await openGet(kube.config, `/api/v1/namespaces/${namespace}/pods/${pod}/log`, {
        container: 'main',
        timestamps: 'true',
        stream,
      });
      for await (const chunk of response) bytes += (chunk as Buffer).length;
    }),
  );
  return { seconds: (performance.now() - t0) / 1000, bytes };
}

/**
 * CPU seconds so far of the local stack's kubelet and API server (they serve every log read), found by their command
 * lines in /proc; NaN when they do not run on this machine.
 */
async function stackCpu(): Promise<{ kubelet: number; apiserver: number }> {
  const out = { kubelet: NaN, apiserver: NaN };
  const tick = 100; // USER_HZ on Linux
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue;
    const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    const args = cmd.split('\0');
    const which = args[1] === 'kubelet' ? 'kubelet' : args[1] === 'kube-apiserver' ? 'apiserver' : null;
    if (which === null) continue;
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out[which] = (Number(fields[11]) + Number(fields[12])) / tick;
  }
  return out;
}

/** Runs `f` and adds the kubelet's and API server's CPU seconds spent meanwhile to its result. */
async function withStackCpu<T>(
  f: () => Promise<T>,
): Promise<T & { kubeletCpu: number; apiserverCpu: number }> {
  const before = await stackCpu();
  const r = await f();
  const after = await stackCpu();
  return {
    ...r,
    kubeletCpu: after.kubelet - before.kubelet,
    apiserverCpu: after.apiserver - before.apiserver,
  };
}

async function runPod(
  kube: KubeClients,
  namespace: string,
  name: string,
  script: string,
  labels: Record<string, string> = {},
): Promise<void> {
  const body: V1Pod = {
    metadata: { name, labels },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'main',
          image: PYTHON,
          imagePullPolicy: 'Never',
          command: ['python3', '-c', script],
          securityContext: {
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
    },
  };
  await kube.core.createNamespacedPod({ namespace, body });
}

async function waitEnded(kube: KubeClients, namespace: string, name: string): Promise<void> {
  for (;;) {
    const p = await kube.core.readNamespacedPod({ name, namespace });
    if (p.status?.containerStatuses?.find((c) => c.name === 'main')?.state?.terminated) return;
    await sleep(500);
  }
}

function linesScript(mb: number): string {
  return [
    'import sys',
    `n = ${Math.round((mb * 1e6) / 100)}`,
    'pad = "x" * 88',
    'w = sys.stdout.write',
    'for i in range(n): w("%09d %s\\n" % (i, pad))',
  ].join('\n');
}

/** Runs the capture alone in a child process and returns its figures and peak RSS. */
function captureInChild(namespace: string, pod: string, prefix: string): Promise<Record<string, number>> {
  const self = fileURLToPath(import.meta.url);
  return new Promise((resolve, reject) => {
    // Extra Node flags for the capture process alone, e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile it.
    const flags = (process.env.ASSAY_BENCH_CAPTURE_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
    const child = spawn(
      process.execPath,
      [...flags, '--import', 'tsx', self, 'child', namespace, pod, prefix],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out) as Record<string, number>)
        : reject(new Error(`child exited ${code}`)),
    );
  });
}

async function removePrefix(store: ObjectStore, prefix: string): Promise<void> {
  for await (const o of store.list(`${prefix}/`)) await store.delete(o.key);
}

async function main(): Promise<void> {
  const program = new Command().option('--sizes <list>', 'comma-separated log sizes in MB', '100,500');
  if (process.argv[2] === 'child') {
    const [, , , namespace, pod, prefix] = process.argv;
    const store = createS3ObjectStore(loadS3Config());
    // The process's size with its modules loaded, before the capture: what the capture adds is the difference.
    const rssBeforeMB = process.memoryUsage().rss / 1e6;
    const r = await capture(kubeClients(), store, namespace!, pod!, prefix!);
    process.stdout.write(
      JSON.stringify({
        ...r,
        maxRssMB: process.resourceUsage().maxRSS / 1024,
        rssBeforeMB,
        cpuSeconds: (process.resourceUsage().userCPUTime + process.resourceUsage().systemCPUTime) / 1e6,
        heapMB: process.memoryUsage().heapUsed / 1e6,
      }),
    );
    store.close();
    return;
  }
  const opts = program.parse().opts<{ sizes: string }>();
  const sizes = opts.sizes.split(',').map((v) => {
    const mb = Number(v.trim());
    if (!Number.isFinite(mb) || mb <= 0) throw new Error(`--sizes: ${JSON.stringify(v)} is not a size in MB`);
    return mb;
  });
  const kube = kubeClients();
  const store = createS3ObjectStore(loadS3Config());
  const tag = ulid().toLowerCase().slice(-8);
  const namespace = `bench-logs-${tag}`;
  const prefix = `bench/logs-${tag}`;
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  try {
    for (;;) {
      const sa = await kube.core.listNamespacedServiceAccount({ namespace });
      if (sa.items.length > 0) break;
      await sleep(200);
    }
    for (const mb of sizes) {
      const pod = `lines-${mb}`;
      await runPod(kube, namespace, pod, linesScript(mb));
      await waitEnded(kube, namespace, pod);
      const bare = await withStackCpu(() => bareRead(kube, namespace, pod));
      // The capture reads each stream on its own (split streams): the kubelet parses the whole file once per stream.
      // This second baseline reads both streams the same way and discards them.
      const bareBoth = await withStackCpu(() => bareRead(kube, namespace, pod, ['Stdout', 'Stderr']));
      const child = await withStackCpu(() => captureInChild(namespace, pod, `${prefix}/${mb}`));
      const bareMBs = bare.bytes / 1e6 / bare.seconds;
      const capMBs = child.bytes! / 1e6 / child.seconds!;
      const cpu = (r: { kubeletCpu: number; apiserverCpu: number }): string =>
        `kubelet ${r.kubeletCpu.toFixed(1)}, API server ${r.apiserverCpu.toFixed(1)}`;
      console.log(
        `${mb} MB log: bare read ${(bare.bytes / 1e6).toFixed(0)} MB (with timestamps) in ${bare.seconds.toFixed(1)} s = ` +
          `${bareMBs.toFixed(1)} MB/s; capture ${(child.bytes! / 1e6).toFixed(0)} MB stored (+ events.ndjson) in ` +
          `${child.seconds!.toFixed(1)} s = ${capMBs.toFixed(1)} MB/s; capture/bare time ratio ` +
          `${(child.seconds! / bare.seconds).toFixed(2)}; capture process peak RSS ${child.maxRssMB!.toFixed(0)} MB ` +
          `(${child.rssBeforeMB!.toFixed(0)} MB before the capture)\n` +
          `  bare read of both streams (what the split capture asks of the node): ${bareBoth.seconds.toFixed(1)} s; ` +
          `capture/bare-both time ratio ${(child.seconds! / bareBoth.seconds).toFixed(2)}\n` +
          `  CPU seconds: bare read ${cpu(bare)}; bare both ${cpu(bareBoth)}; capture ${cpu(child)}, ` +
          `the capture process ${child.cpuSeconds!.toFixed(1)}`,
      );
      await removePrefix(store, `${prefix}/${mb}`);
      await kube.core.deleteNamespacedPod({ name: pod, namespace });
    }

    // Time to first line in follow mode.
    const pod = 'first-line';
    // followLogs finds an attempt's pod by its labels.
    await runPod(
      kube,
      namespace,
      pod,
      'import time\ntime.sleep(2)\nprint("%.6f" % time.time(), flush=True)\ntime.sleep(1)',
      { 'assay.dev/evaluation-id': 'bench', 'assay.dev/attempt': '1' },
    );
    let firstAt = 0;
    let printed = 0;
    const status = (): Promise<EvaluationStatus> => Promise.resolve(fakeStatus(namespace, pod));
    await followLogs({
      status,
      store,
      kube,
      stdout: {
        write: (chunk) => {
          if (firstAt === 0) {
            firstAt = Date.now() / 1000;
            printed = Number(Buffer.from(chunk).toString().trim().split('\n')[0]);
          }
        },
      },
      stderr: { write: () => undefined },
      pollMs: 100,
      streams: 'stdout',
    });
    console.log(
      `follow: first line shown ${((firstAt - printed) * 1000).toFixed(0)} ms after the pod printed it`,
    );
  } finally {
    await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
    await removePrefix(store, prefix).catch(() => undefined);
    store.close();
  }
}

/** A status that reports the bench pod's attempt as running until its container has ended, then completed. */
let ended = false;
function fakeStatus(namespace: string, _pod: string): EvaluationStatus {
  return {
    evaluationId: 'bench',
    phase: ended ? 'Completed' : 'Running',
    outcome: null,
    reason: null,
    cluster: 'local',
    namespace,
    attempt: 1,
    maxAttempts: 1,
    job: null,
    pod: null,
    timings: { submittedAt: new Date().toISOString(), startedAt: null, finishedAt: null },
    attempts: [],
    recordKey: '',
    nextAttemptAt: null,
  };
}
setTimeout(() => (ended = true), 8000).unref();

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
