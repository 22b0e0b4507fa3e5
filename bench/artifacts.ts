/**
 * Benchmark of the artifact extraction (prints figures; asserts nothing). Needs the local stack:
 *   eval "$(npm run --silent stack -- env)"; npx tsx bench/artifacts.ts [--mb 1024] [--small 20000]
 *
 * A pod (the Job builder's, with the collector sidecar) writes one file of `--mb` MiB plus a few small ones into its
 * artifacts directory, and `--small` more files of about 100 bytes, and exits. In the same run, the collector's `tar` stream is read twice through the API server:
 *   1. bare: `exec tar` read to nowhere (bytes counted, discarded) — the baseline;
 *   2. extraction: the same stream parsed, policy-checked, hashed and uploaded to S3 (what the activity runs).
 * Prints both throughputs, their ratio, and the process's resident memory (max sampled during each phase, and peak).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { ulid } from 'ulid';
import { extractTar } from '../src/artifacts/extract.js';
import { EntryPolicy } from '../src/artifacts/policy.js';
import { buildJob, buildNamespace, collectorContainerName } from '../src/activities/job-manifest.js';
import { createJobActivities } from '../src/activities/jobs.js';
import { apiStatus, createKubeClients, type KubeClients } from '../src/kube/clients.js';
import { execStream } from '../src/kube/exec-stream.js';
import { storageKeys } from '../src/spec/storage-keys.js';
import { busyboxImage, collectorImage } from '../src/stack/images/catalog.js';
import { imageRef } from '../src/stack/images/local-images.js';
import { collect } from '../src/storage/object-store.js';
import { createS3ObjectStore, loadS3Config } from '../src/storage/index.js';

const MiB = 1024 * 1024;
const namespace = 'assay-bench-artifacts';

function rssNow(): number {
  return process.memoryUsage.rss();
}

function peakRss(): number {
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1];
  return Number(kb ?? 0) * 1024;
}

/** Runs `body` while sampling RSS; returns its duration and the largest RSS seen. */
async function measured<T>(body: () => Promise<T>): Promise<{ value: T; seconds: number; maxRss: number }> {
  let maxRss = rssNow();
  const timer = setInterval(() => (maxRss = Math.max(maxRss, rssNow())), 50);
  const t0 = performance.now();
  try {
    const value = await body();
    return { value, seconds: (performance.now() - t0) / 1000, maxRss: Math.max(maxRss, rssNow()) };
  } finally {
    clearInterval(timer);
  }
}

async function ensureNamespace(kube: KubeClients): Promise<void> {
  try {
    await kube.core.createNamespace({ body: buildNamespace(namespace, 'bench') });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
  for (;;) {
    const sas = await kube.core.listNamespacedServiceAccount({ namespace });
    if (sas.items.some((s) => s.metadata?.name === 'default')) return;
    await sleep(200);
  }
}

async function waitForMainEnd(kube: KubeClients, selector: string): Promise<string> {
  const deadline = Date.now() + 600_000;
  while (Date.now() < deadline) {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selector });
    for (const pod of pods.items) {
      const main = pod.status?.containerStatuses?.find((c) => c.name === 'main');
      const terminated = main?.state?.terminated;
      if (terminated !== undefined) {
        if (terminated.exitCode !== 0) throw new Error(`the writer pod failed: ${terminated.message ?? ''}`);
        return pod.metadata!.name!;
      }
    }
    await sleep(500);
  }
  throw new Error('the writer pod did not finish in 10 minutes');
}

async function main(): Promise<void> {
  const options = new Command('bench-artifacts')
    .option('--mb <n>', 'size of the large artifact in MiB', '1024')
    .option('--small <n>', 'number of small (~100 byte) files besides it', '0')
    .parse()
    .opts<{ mb: string; small: string }>();
  const bigBytes = Number(options.mb) * MiB;
  const small = Number(options.small);
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  const store = createS3ObjectStore(loadS3Config());
  const evaluationId = `bench-${ulid().toLowerCase().slice(-12)}`;
  const limits = { paths: ['.'], maxBytes: bigBytes + 64 * MiB, maxFiles: small + 100 };
  const request = {
    evaluationId,
    attempt: 1,
    namespace,
    workflowId: 'bench',
    runId: 'bench',
    team: 'bench',
    user: 'bench',
    priority: 'normal' as const,
    image: imageRef(busyboxImage),
    command: [
      'sh',
      '-c',
      `cd "$ASSAY_ARTIFACTS_DIR" && mkdir -p a/b && for i in 1 2 3 4 5 6 7 8; do head -c 100000 /dev/urandom > a/b/s$i.bin; done && head -c ${bigBytes} /dev/urandom > big.bin` +
        ` && mkdir -p many && i=0 && while [ $i -lt ${small} ]; do echo "small file $i of a benchmark, about one hundred bytes long ......................" > many/f$i.txt; i=$((i+1)); done`,
    ],
    args: [],
    env: [],
    workingDir: null,
    resources: {
      requests: { cpu: '1', memory: '64Mi', ephemeralStorage: String(bigBytes + 256 * MiB) },
      limits: { cpu: '1', memory: '64Mi', ephemeralStorage: String(bigBytes + 256 * MiB) },
      gpu: null,
    },
    timeoutSeconds: 1800,
    labels: {},
    runtimeClassName: null,
    outputs: { result: null, artifacts: limits },
  };
  const collector = { image: imageRef(collectorImage), imagePullPolicy: 'Never' } as const;
  const jobs = createJobActivities({ kube, cluster: { collector } });
  await ensureNamespace(kube);
  await kube.batch.createNamespacedJob({
    namespace,
    body: buildJob(request, { collector }),
  });
  try {
    process.stdout.write(`writing ${options.mb} MiB + ${8 + small} small files in the pod…\n`);
    const pod = await waitForMainEnd(kube, `assay.dev/evaluation-id=${evaluationId}`);
    const tarCommand = ['tar', '-c', '-f', '-', '-C', '/assay', 'artifacts'];
    const idleRss = rssNow();

    // One unmeasured read first, so both measured reads find the pod's files in the page cache.
    const warm = await execStream(kube.config, {
      namespace,
      pod,
      container: collectorContainerName,
      command: tarCommand,
    });
    warm.stdout.resume();
    await warm.done;

    const bare = await measured(async () => {
      const exec = await execStream(kube.config, {
        namespace,
        pod,
        container: collectorContainerName,
        command: tarCommand,
      });
      let bytes = 0;
      await pipeline(
        exec.stdout,
        new Writable({
          write(chunk: Buffer, _e, cb) {
            bytes += chunk.length;
            cb();
          },
        }),
      );
      await exec.done;
      return bytes;
    });

    const upload = await measured(async () => {
      const exec = await execStream(kube.config, {
        namespace,
        pod,
        container: collectorContainerName,
        command: tarCommand,
      });
      const out = await extractTar(exec.stdout, {
        evaluationId,
        store,
        policy: new EntryPolicy(limits, null),
      });
      const end = await exec.done;
      if (end.exitCode !== 0)
        throw new Error(`the collector's tar ended with ${end.exitCode}: ${end.stderr}`);
      return { bytes: out.manifest.reduce((n, e) => n + e.bytes, 0), files: out.manifest.length };
    });
    const files = upload.value.files;

    const mbps = (bytes: number, s: number): string => `${(bytes / MiB / s).toFixed(1)} MiB/s`;
    process.stdout.write(
      [
        `artifact bytes: ${(upload.value.bytes / MiB).toFixed(0)} MiB in ${files} files (tar stream ${(bare.value / MiB).toFixed(0)} MiB)`,
        `bare exec tar → /dev/null : ${bare.seconds.toFixed(1)} s, ${mbps(bare.value, bare.seconds)}, ${(files / bare.seconds).toFixed(0)} files/s`,
        `extract + sha256 + S3 upload: ${upload.seconds.toFixed(1)} s, ${mbps(upload.value.bytes, upload.seconds)}, ${(files / upload.seconds).toFixed(0)} files/s`,
        `ratio (upload time / bare time): ${(upload.seconds / bare.seconds).toFixed(2)}× (throughput ${(bare.seconds / upload.seconds).toFixed(2)}× bare)`,
        `RSS: ${(idleRss / MiB).toFixed(0)} MiB before; max ${(bare.maxRss / MiB).toFixed(0)} MiB during bare read; ` +
          `max ${(upload.maxRss / MiB).toFixed(0)} MiB during upload; process peak ${(peakRss() / MiB).toFixed(0)} MiB`,
      ].join('\n') + '\n',
    );
  } finally {
    await jobs.cleanupAttempt({ namespace, evaluationId, attempt: 1 });
    for (const o of await collect(store.list(storageKeys.evaluationPrefix(evaluationId))))
      await store.delete(o.key);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench-artifacts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
