import { cpus, loadavg } from 'node:os';
import { Command } from 'commander';
import { CoreV1Api, KubeConfig, Watch, type V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { busyboxImage } from '../src/stack/images/catalog.js';
import { imageRef } from '../src/stack/images/local-images.js';
import { kubeLayout } from '../src/stack/kube/layout.js';
import { createStackContext } from '../src/stack/index.js';

// Benchmark: pod start latency on the local cluster (prints figures; asserts nothing). N trivial pods are created at
// once; a watch started before them records when each is first seen with its container running. Latency is measured
// on our clock from just before the create call, and — the way the Kubernetes SLO states it — from the pod's
// creationTimestamp to the container's running.startedAt (both whole seconds on the server's clock).
// The SLO for stateless pods is p99 ≤ 5 s.

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

function summary(label: string, values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const f = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
  return `${label.padEnd(44)} p50 ${f(percentile(s, 50))}  p99 ${f(percentile(s, 99))}  max ${f(s[s.length - 1] ?? NaN)}  (n=${s.length})`;
}

function pod(name: string): V1Pod {
  return {
    metadata: { name, labels: { 'assay.dev/bench': 'pod-start' } },
    spec: {
      restartPolicy: 'Never',
      automountServiceAccountToken: false,
      enableServiceLinks: false,
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'main',
          image: imageRef(busyboxImage),
          imagePullPolicy: 'Never',
          command: ['sleep', '3600'],
          securityContext: {
            runAsNonRoot: true,
            runAsUser: 65532,
            allowPrivilegeEscalation: false,
            capabilities: { drop: ['ALL'] },
            seccompProfile: { type: 'RuntimeDefault' },
          },
        },
      ],
    },
  };
}

async function waitGone(core: CoreV1Api, namespace: string): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      await core.readNamespace({ name: namespace });
    } catch {
      return;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

async function round(
  kc: KubeConfig,
  core: CoreV1Api,
  count: number,
): Promise<{ client: number[]; server: number[]; gone: Promise<void> }> {
  const namespace = `bench-pods-${ulid().toLowerCase().slice(-10)}`;
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  for (let i = 0; i < 100; i++) {
    try {
      await core.readNamespacedServiceAccount({ name: 'default', namespace });
      break;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  const sentAt = new Map<string, number>();
  const runningAt = new Map<string, number>();
  const server = new Map<string, number>();
  let resolveAll: () => void = () => undefined;
  const allRunning = new Promise<void>((r) => (resolveAll = r));
  const list = await core.listNamespacedPod({ namespace });
  const watch = await new Watch(kc).watch(
    `/api/v1/namespaces/${namespace}/pods`,
    { resourceVersion: list.metadata?.resourceVersion },
    (_type: string, p: V1Pod) => {
      const name = p.metadata?.name;
      const running = p.status?.containerStatuses?.[0]?.state?.running;
      if (!name || !running || runningAt.has(name)) return;
      runningAt.set(name, performance.now());
      const created = Date.parse(String(p.metadata?.creationTimestamp));
      const started = Date.parse(String(running.startedAt));
      server.set(name, started - created);
      if (runningAt.size === count) resolveAll();
    },
    () => undefined,
  );
  try {
    await Promise.all(
      Array.from({ length: count }, async (_, i) => {
        const name = `p${i}`;
        sentAt.set(name, performance.now());
        await core.createNamespacedPod({ namespace, body: pod(name) });
      }),
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      allRunning,
      new Promise<void>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`only ${runningAt.size}/${count} pods running after 180 s`)),
          180_000,
        );
      }),
    ]).finally(() => clearTimeout(timer));
  } finally {
    watch.abort();
    await core.deleteNamespace({ name: namespace, gracePeriodSeconds: 0 }).catch(() => undefined);
  }
  const client = [...runningAt].map(([name, t]) => t - (sentAt.get(name) ?? t));
  return { client, server: [...server.values()], gone: waitGone(core, namespace) };
}

async function main(): Promise<void> {
  const opts = new Command('pod-start')
    .option('--pods <n>', 'pods created at once per round', '20')
    .option('--rounds <n>', 'rounds (each in a fresh namespace)', '3')
    .parse()
    .opts<{ pods: string; rounds: string }>();
  const kc = new KubeConfig();
  kc.loadFromFile(process.env.KUBECONFIG ?? kubeLayout(createStackContext().paths).adminKubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const count = Number(opts.pods);
  const client: number[] = [];
  const server: number[] = [];
  process.stdout.write(`pod start benchmark: ${opts.rounds} round(s) of ${count} pods created at once\n`);
  for (let r = 1; r <= Number(opts.rounds); r++) {
    const res = await round(kc, core, count);
    process.stdout.write(`${summary(`round ${r}: create call → watch sees running`, res.client)}\n`);
    client.push(...res.client);
    server.push(...res.server);
    // Rounds must not overlap: the kubelet tearing down the last round's pods would slow this one down.
    await res.gone;
  }
  process.stdout.write(`${summary('all: create call → watch sees running', client)}\n`);
  process.stdout.write(`${summary('all: creationTimestamp → running.startedAt', server)}\n`);
  process.stdout.write(
    `load average ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}, ${cpus().length} CPUs\n`,
  );
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/pod-start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
