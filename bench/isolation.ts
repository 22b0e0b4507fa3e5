/**
 * Benchmark: the cost of the gVisor sandbox, side by side with runc in the same run (prints figures; asserts nothing).
 *   eval "$(npm run --silent stack -- env)"; npx tsx bench/isolation.ts [--runs 5]
 *
 * Evaluation pods as Assay builds them (non-root, read-only root, all capabilities dropped, RuntimeDefault seccomp),
 * one at a time, under each runtime in turn (alternating, so drift on the machine hits both alike):
 * - start: from the create call to the container seen running (watch), for a pod running `sleep 1`;
 * - cpu: a shell loop of 300,000 additions, timed inside the container;
 * - syscalls: `dd bs=1 count=200000` (400,000 read/write calls), timed inside the container.
 * Inside timings use the container's own clock (`/proc/uptime` before and after) and are read from its log.
 */
import { Command } from 'commander';
import { CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { busyboxImage } from '../src/stack/images/catalog.js';
import { imageRef } from '../src/stack/images/local-images.js';

const workloads = {
  start: 'sleep 1',
  cpu: 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done',
  syscalls: 'dd if=/dev/zero of=/dev/null bs=1 count=200000 2>/dev/null',
} as const;
type Workload = keyof typeof workloads;
const runtimes = ['runc', 'gvisor'] as const;
type Runtime = (typeof runtimes)[number];

function pod(name: string, runtime: Runtime, workload: Workload): V1Pod {
  // /proc/uptime has centisecond precision; the workloads take hundreds of milliseconds or more.
  const timed =
    `s=$(cut -d' ' -f1 /proc/uptime); ${workloads[workload]}; e=$(cut -d' ' -f1 /proc/uptime); ` +
    `awk "BEGIN { print \\"elapsed_ms\\", ($e - $s) * 1000 }"`;
  return {
    metadata: { name, labels: { 'assay.dev/bench': 'isolation' } },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      ...(runtime === 'gvisor' ? { runtimeClassName: 'gvisor' } : {}),
      securityContext: { runAsNonRoot: true, runAsUser: 65532, seccompProfile: { type: 'RuntimeDefault' } },
      containers: [
        {
          name: 'main',
          image: imageRef(busyboxImage),
          imagePullPolicy: 'Never',
          command: ['sh', '-c', timed],
          resources: { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '1', memory: '64Mi' } },
          securityContext: {
            runAsNonRoot: true,
            readOnlyRootFilesystem: true,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
    },
  };
}

/** Creates the pod and resolves when its container is first seen running and when it has ended. */
async function runPod(
  kc: KubeConfig,
  core: CoreV1Api,
  namespace: string,
  body: V1Pod,
): Promise<{ startMs: number; insideMs: number }> {
  const name = body.metadata!.name!;
  const t0 = performance.now();
  let running: number | null = null;
  const ended = new Promise<void>((resolve, reject) => {
    void new Watch(kc)
      .watch(
        `/api/v1/namespaces/${namespace}/pods`,
        { fieldSelector: `metadata.name=${name}` },
        (_type: string, p: V1Pod) => {
          const state = p.status?.containerStatuses?.[0]?.state;
          if (running === null && (state?.running !== undefined || state?.terminated !== undefined)) {
            running = performance.now();
          }
          if (p.status?.phase === 'Succeeded') resolve();
          if (p.status?.phase === 'Failed') reject(new Error(`pod ${name} failed`));
        },
        (err: unknown) => (err ? reject(err as Error) : undefined),
      )
      .then((req: { abort(): void }) => ended.finally(() => req.abort()));
  });
  await core.createNamespacedPod({ namespace, body });
  await ended;
  const log = await core.readNamespacedPodLog({ name, namespace });
  const ms = Number(/elapsed_ms ([\d.]+)/.exec(log)?.[1]);
  await core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
  return { startMs: (running ?? performance.now()) - t0, insideMs: ms };
}

function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--runs <n>', 'pods per runtime and workload', (v) => Number.parseInt(v, 10), 5)
    .parse()
    .opts<{ runs: number }>();
  const kc = new KubeConfig();
  kc.loadFromDefault();
  const core = kc.makeApiClient(CoreV1Api);
  const namespace = `bench-iso-${ulid().toLowerCase().slice(-10)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (let i = 0; i < 100; i++) {
    const sa = await core.readNamespacedServiceAccount({ name: 'default', namespace }).catch(() => null);
    if (sa !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const figures = new Map<string, { start: number[]; inside: number[] }>();
  try {
    for (const workload of Object.keys(workloads) as Workload[]) {
      for (let run = 0; run < opts.runs; run++) {
        for (const runtime of runtimes) {
          const name = `${runtime}-${workload}-${run}`;
          const { startMs, insideMs } = await runPod(kc, core, namespace, pod(name, runtime, workload));
          const key = `${workload}/${runtime}`;
          const entry = figures.get(key) ?? { start: [], inside: [] };
          entry.start.push(startMs);
          entry.inside.push(insideMs);
          figures.set(key, entry);
        }
      }
    }
  } finally {
    await core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
  const line = (label: string, runc: number, gvisor: number) =>
    `${label.padEnd(34)} runc ${runc.toFixed(0).padStart(7)} ms   gvisor ${gvisor.toFixed(0).padStart(7)} ms   ×${(gvisor / runc).toFixed(2)}`;
  console.log(`isolation benchmark: ${opts.runs} pods per runtime and workload, medians`);
  const at = (key: string) => figures.get(key)!;
  console.log(line('pod start (create → running)', median(at('start/runc').start), median(at('start/gvisor').start)));
  console.log(line('cpu: 300k shell additions', median(at('cpu/runc').inside), median(at('cpu/gvisor').inside)));
  console.log(line('syscalls: dd bs=1 count=200000', median(at('syscalls/runc').inside), median(at('syscalls/gvisor').inside)));
}

await main();
