/**
 * Benchmark of live following (`assay logs -f`): how long after a pod prints a line it is shown. Prints figures;
 * asserts nothing. Needs the local stack:
 *   eval "$(npm run --silent stack -- env)"; npx tsx bench/follow.ts [--runs 10] [--lines 20]
 *
 * Each run starts one pod, labelled as attempt 1 of an evaluation, that prints `--lines` lines 200 ms apart from the
 * moment it starts, each carrying the pod's clock (the node is this machine, so the clocks agree). The first line
 * is printed before anyone can have found the pod, so its delay is the cost of attaching: noticing that the
 * container runs (the kubelet's status report, then a watch event or a poll) and opening the log. Two readers, both started before
 * the pod is created, show every line:
 * - baseline: what `kubectl logs -f` does once the container runs — a watch on the pod (no polling) until `main`
 *   has started, then one follow read of its log;
 * - assay: `followLogs` exactly as `assay logs -f` calls it, with the CLI's own poll interval (its default).
 * Printed: p50/p95/max of the delay of the first line (attaching: finding the pod, opening the log) and of the lines
 * after it (streaming), for both, and the ratio of assay to baseline.
 */
import { Command } from 'commander';
import type { V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { followLogs } from '../src/client/follow.js';
import { createKubeClients, openGet, type KubeClients } from '../src/kube/clients.js';
import { watchUntil } from '../src/kube/watch.js';
import { labelKeys } from '../src/spec/kube-labels.js';
import type { EvaluationStatus } from '../src/spec/record.js';
import { pythonImage } from '../src/stack/images/catalog.js';
import { imageRef } from '../src/stack/images/local-images.js';
import { createS3ObjectStore, loadS3Config } from '../src/storage/index.js';

const PYTHON = imageRef(pythonImage);

/** Delays (s) of the lines one reader showed: the first line, and the lines printed after it had arrived. */
interface Delays {
  first: number[];
  rest: number[];
}

/**
 * Splits chunks into lines `<seq> <epoch seconds>` and records each line's delay from its printing to now. Lines
 * printed while the reader was still attaching arrive together with the first one and are left out of `rest`: they
 * measure the attach again, not the streaming.
 */
function delayRecorder(into: Delays): (chunk: string | Uint8Array) => void {
  let tail = '';
  let attachedAt = Number.POSITIVE_INFINITY;
  return (chunk) => {
    const now = Date.now() / 1000;
    const text = tail + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const lines = text.split('\n');
    tail = lines.pop() ?? '';
    for (const line of lines) {
      const [seq, printed] = line.split(' ').map(Number);
      if (seq === undefined || printed === undefined || !Number.isFinite(printed)) continue;
      if (seq === 0) {
        into.first.push(now - printed);
        attachedAt = now;
      } else if (printed > attachedAt) {
        into.rest.push(now - printed);
      }
    }
  };
}

function script(lines: number): string {
  return [
    'import time',
    `for i in range(${lines}):`,
    '    print("%d %.6f" % (i, time.time()), flush=True)',
    '    time.sleep(0.2)',
  ].join('\n');
}

function podBody(name: string, evaluationId: string, lines: number): V1Pod {
  return {
    metadata: { name, labels: { [labelKeys.evaluationId]: evaluationId, [labelKeys.attempt]: '1' } },
    spec: {
      restartPolicy: 'Never',
      terminationGracePeriodSeconds: 0,
      containers: [
        {
          name: 'main',
          image: PYTHON,
          imagePullPolicy: 'Never',
          command: ['python3', '-c', script(lines)],
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

type MainState = 'waiting' | 'running' | 'ended' | 'gone';

async function mainState(kube: KubeClients, namespace: string, name: string): Promise<MainState> {
  try {
    const pod = await kube.core.readNamespacedPod({ name, namespace });
    const main = pod.status?.containerStatuses?.find((c) => c.name === 'main');
    if (main?.state?.terminated !== undefined) return 'ended';
    return main?.state?.running !== undefined ? 'running' : 'waiting';
  } catch {
    return 'gone';
  }
}

/** The `kubectl logs -f` equivalent: watch until `main` has started, then one follow read of its log. */
async function bareFollow(
  kube: KubeClients,
  namespace: string,
  name: string,
  write: (c: Buffer) => void,
): Promise<void> {
  const signal = new AbortController().signal;
  await watchUntil<V1Pod, true>(
    kube.watch,
    {
      path: `/api/v1/namespaces/${namespace}/pods`,
      query: { fieldSelector: `metadata.name=${name}` },
      list: async () => {
        const list = await kube.core.listNamespacedPod({ namespace, fieldSelector: `metadata.name=${name}` });
        return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
      },
    },
    (pod) => {
      const main = pod.status?.containerStatuses?.find((c) => c.name === 'main');
      return main?.state?.running !== undefined || main?.state?.terminated !== undefined ? true : null;
    },
    { signal },
  );
  const response = await openGet(
    kube.config,
    `/api/v1/namespaces/${namespace}/pods/${name}/log`,
    { container: 'main', follow: 'true' },
    signal,
  );
  for await (const chunk of response) write(chunk as Buffer);
}

/** `assay logs -f` as the CLI runs it, against a status that follows the pod (Running, then Completed). */
async function assayFollow(
  kube: KubeClients,
  namespace: string,
  name: string,
  evaluationId: string,
  write: (c: string | Uint8Array) => void,
): Promise<void> {
  const store = createS3ObjectStore(loadS3Config());
  // Running until the pod, once seen, has ended or gone (it does not exist yet when following starts).
  let seen = false;
  const status = async (): Promise<EvaluationStatus> => {
    const state = await mainState(kube, namespace, name);
    seen ||= state !== 'gone';
    return {
      evaluationId,
      phase: seen && (state === 'ended' || state === 'gone') ? 'Completed' : 'Running',
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
  };
  try {
    // No `pollMs`: the CLI passes none, so this is its own interval.
    await followLogs({
      status,
      store,
      kube,
      stdout: { write },
      stderr: { write: () => undefined },
      streams: 'stdout',
    });
  } finally {
    store.close();
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

function ms(seconds: number): string {
  return `${(seconds * 1000).toFixed(0)} ms`;
}

function row(label: string, base: number[], assay: number[]): string {
  const figures = (v: number[]): string =>
    `p50 ${ms(quantile(v, 0.5))}, p95 ${ms(quantile(v, 0.95))}, max ${ms(quantile(v, 1))} (n=${v.length})`;
  const ratio = quantile(assay, 0.5) / quantile(base, 0.5);
  return [
    `${label}:`,
    `  baseline (watch + kubectl logs -f read): ${figures(base)}`,
    `  assay logs -f:                           ${figures(assay)}`,
    `  assay/baseline p50 ratio ${ratio.toFixed(2)}`,
  ].join('\n');
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--runs <n>', 'pods, one after the other', '10')
    .option('--lines <n>', 'lines each pod prints, 200 ms apart', '20')
    .parse()
    .opts<{ runs: string; lines: string }>();
  const runs = Number(opts.runs);
  const lines = Number(opts.lines);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs: ${opts.runs} is not a positive integer`);
  if (!Number.isInteger(lines) || lines < 2) throw new Error(`--lines: ${opts.lines} is not an integer ≥ 2`);

  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  const tag = ulid().toLowerCase().slice(-8);
  const namespace = `bench-follow-${tag}`;
  const base: Delays = { first: [], rest: [] };
  const assay: Delays = { first: [], rest: [] };
  await kube.core.createNamespace({ body: { metadata: { name: namespace } } });
  try {
    // Pods are refused until the namespace's default ServiceAccount exists.
    await watchUntil(
      kube.watch,
      {
        path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
        query: { fieldSelector: 'metadata.name=default' },
        list: async () => {
          const list = await kube.core.listNamespacedServiceAccount({
            namespace,
            fieldSelector: 'metadata.name=default',
          });
          return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? '' };
        },
      },
      (_sa, type) => (type === 'DELETED' ? null : true),
      { signal: new AbortController().signal },
    );
    for (let run = 0; run < runs; run++) {
      const name = `follow-${run}`;
      const evaluationId = `bench-${tag}-${run}`;
      const readers = Promise.all([
        bareFollow(kube, namespace, name, delayRecorder(base)),
        assayFollow(kube, namespace, name, evaluationId, delayRecorder(assay)),
      ]);
      await kube.core.createNamespacedPod({
        namespace,
        body: podBody(name, evaluationId, lines),
      });
      await readers;
      await kube.core.deleteNamespacedPod({ name, namespace, gracePeriodSeconds: 0 });
      process.stderr.write(`run ${run + 1}/${runs} done\n`);
    }
    console.log(`${runs} pods × ${lines} lines, 200 ms apart`);
    console.log(row('first line (attach)', base.first, assay.first));
    console.log(row('lines printed once attached (streaming)', base.rest, assay.rest));
  } finally {
    await kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.stack : String(err));
  process.exit(1);
});
