/**
 * Multi-cluster placement on the local stack's two real clusters, `local` and `b` (docs/multi-cluster.md). The suite
 * starts `b` itself (`stackUp({ clusters: ['b'] })`: seconds when it runs or is cached) and stops it again afterwards
 * unless it was already running or ASSAY_KEEP_STACK=1. It is the only suite that brings `b` up.
 *
 * - `b` is a cluster of its own (its node, a pod run to completion there, `stack status`);
 * - selection by labels and GPU type picks the cluster that matches, against registry order; a cordoned `local` sends
 *   new evaluations to `b` and `assay status` says why; with the cluster monitor on and equal weights, 40 evaluations
 *   submitted at once are shared between the two, each with both clusters scored, and `assay clusters` shows both;
 * - spill-over: an evaluation `local` cannot fit (a filler pod holds its CPU) is placed there first by registry order,
 *   its pod stays Unschedulable, and after `placement.unschedulableSeconds` it runs on `b`;
 * - a lost cluster worker (SIGKILL): the attempt's task on `local` is picked up by nobody, and after
 *   `placement.lostClusterSeconds` the evaluation runs on `b`;
 * - a lost API server (SIGSTOP of b's kube-apiserver mid-run): the attempt ends `ClusterUnreachable`, the next one runs
 *   on `local`, and both attempts' logs are stored.
 *
 * Workers are child processes (`src/workers/main.ts`, as production starts them), one per registry, with short
 * placement bounds; `ASSAY_CLUSTER_MONITOR=false` (the harness's default) where a test needs registry order.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { AssayClient } from '../../src/client/assay-client.js';
import { clusterCapacity } from '../../src/placement/capacity.js';
import type { ClusterHealth } from '../../src/placement/types.js';
import { clusterMonitorWorkflowId } from '../../src/placement/view.js';
import type { EvaluationRecord, EvaluationStatus } from '../../src/spec/record.js';
import {
  createStackContext,
  daemonState,
  envBoolean,
  stackDown,
  stackStatus,
  stackUp,
} from '../../src/stack/index.js';
import { CLUSTER, CLUSTER_B, kubeLayout } from '../../src/stack/kube/layout.js';
import { stackWorkerConfig } from '../../src/stack/kube/worker-config.js';
import { createS3ObjectStore, loadS3Config, type S3ObjectStore } from '../../src/storage/index.js';
import { runAssay } from '../support/cli.js';
import { createWorkerProcesses, manifestBuilder, newId } from '../support/evaluation-harness.js';
import { stackTestEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';
import {
  BUSYBOX,
  connect,
  container,
  createNamespace,
  deleteNamespace,
  podOfJob,
  podSpec,
  waitForTermination,
  type Cluster,
} from './kube/cluster.js';

const env = stackTestEnv();
const paths = createStackContext().paths;
const team = newId('itmc');
/** The evaluations' namespace, on both clusters. */
const namespace = `assay-${team}`;
const workers = createWorkerProcesses();

/** Short placement bounds, so spill-over and failover take seconds. */
const bounds = {
  probeIntervalSeconds: 2,
  // An idle worker renews its long poll about once a minute: a shorter liveness would call a live one dead.
  pollerLivenessSeconds: 75,
  unschedulableSeconds: 10,
  lostClusterSeconds: 15,
};

/** One task queue per registry. */
const queues = {
  /** local, then b (b offers GPU type t4); monitor off; one worker for workflows and b, another for local only. */
  ordered: newId('assay-it-mc-ord'),
  /** b, then local; monitor off. */
  bFirst: newId('assay-it-mc-bfirst'),
  /** local cordoned, then b; monitor off. */
  cordoned: newId('assay-it-mc-cordon'),
  /** local and b of equal weight; the cluster monitor on. */
  probed: newId('assay-it-mc-probed'),
};

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    resources: { cpu: '10m', memory: '16Mi', ephemeralStorage: '16Mi' },
    timeoutSeconds: 120,
    retries: { maxAttempts: 2, backoffSeconds: 1 },
  },
});

let startedB = false;
let local: Cluster;
let b: Cluster;
let connection: Connection;
let temporal: Client;
let store: S3ObjectStore;
let dir: string;
/** The worker serving only `local` on the `ordered` queue: the lost-worker test kills it. */
let orderedLocalWorker: ChildProcess;
/** Namespaces of this suite's own pods (not evaluations'), by cluster. */
const ownNamespaces: { cluster: () => Cluster; name: string }[] = [];
/** Registry entries as `stack env --clusters local,b` writes them. */
let localEntry: Record<string, unknown>;
let bEntry: Record<string, unknown>;

function clusterOf(kubeconfig: string): Cluster {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return { kc, core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api) };
}

function assayOn(queue: string): AssayClient {
  return new AssayClient(temporal, { taskQueue: queue });
}

/** Starts an evaluation of `spec` on `queue`; returns its id. */
async function submit(queue: string, spec: Record<string, unknown>, label = 'mc'): Promise<string> {
  const started = await assayOn(queue).start(manifest(spec), { idempotencyKey: newId(label) });
  return started.evaluationId;
}

/** Writes a worker config with `clusters` and the short placement bounds; returns its path. */
async function workerConfig(name: string, body: Record<string, unknown>): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(file, stringify({ placement: bounds, ...body }));
  return file;
}

/**
 * A promise run in the background from a `beforeAll`, awaited by the test that checks it: independent cases run at
 * once, each reported on its own. Its rejection is handled here and seen by that test.
 */
function launch<T>(run: () => Promise<T>): Promise<T> {
  const p = run();
  p.catch(() => undefined);
  return p;
}

/** CPU millicores free on the cluster's roomiest schedulable node: allocatable minus non-terminated pods' requests. */
async function freeCpuMillis(c: Cluster): Promise<number> {
  const nodes = (await c.core.listNode()).items;
  const pods = (
    await c.core.listPodForAllNamespaces({ fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' })
  ).items;
  return clusterCapacity(nodes, pods, {
    gpuTypeLabel: 'nvidia.com/gpu.product',
    gpuTypes: [],
  }).largestFree.cpuMillis;
}

/** The text of a stored object. */
async function stored(key: string | null | undefined): Promise<string> {
  if (key === null || key === undefined) throw new Error('no key stored');
  return (await store.getBytes(key)).toString('utf8');
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;

beforeAll(async () => {
  const t0 = Date.now();
  const up = await stackUp({ clusters: ['b'] });
  startedB = up.started.includes(CLUSTER_B.component);
  const tB = Date.now();
  local = connect();
  b = clusterOf(kubeLayout(paths, CLUSTER_B).adminKubeconfig);
  connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  temporal = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  store = createS3ObjectStore(loadS3Config());
  dir = await mkdtemp(join(tmpdir(), 'assay-multi-cluster-'));

  const entries = stackWorkerConfig(paths, [CLUSTER, CLUSTER_B]).clusters as Record<string, unknown>[];
  [localEntry, bEntry] = entries as [Record<string, unknown>, Record<string, unknown>];
  const orderedClusters = [localEntry, { ...bEntry, gpuTypes: ['t4'] }];
  const orderedMain = await workerConfig('ordered-main', {
    clusters: orderedClusters,
    serveClusters: ['b'],
  });
  const orderedLocal = await workerConfig('ordered-local', {
    clusters: orderedClusters,
    serveWorkflows: false,
    serveClusters: ['local'],
  });
  const bFirst = await workerConfig('b-first', { clusters: [bEntry, localEntry] });
  const cordoned = await workerConfig('cordoned', {
    clusters: [{ ...localEntry, cordoned: true }, bEntry],
  });
  const probed = await workerConfig('probed', {
    clusters: [
      { ...localEntry, weight: 1 },
      { ...bEntry, weight: 1 },
    ],
  });
  const started = await Promise.all([
    workers.start(queues.ordered, { ASSAY_WORKER_CONFIG: orderedMain }),
    workers.start(queues.ordered, { ASSAY_WORKER_CONFIG: orderedLocal }),
    workers.start(queues.bFirst, { ASSAY_WORKER_CONFIG: bFirst }),
    workers.start(queues.cordoned, { ASSAY_WORKER_CONFIG: cordoned }),
    workers.start(queues.probed, { ASSAY_WORKER_CONFIG: probed, ASSAY_CLUSTER_MONITOR: 'true' }),
  ]);
  orderedLocalWorker = started[1];
  console.log(
    `[multi-cluster] stack up --clusters b: ${seconds(tB - t0)} (${startedB ? 'started' : 'already running'}); ` +
      `5 workers ready: ${seconds(Date.now() - tB)}`,
  );
}, 15 * 60_000);

afterAll(async () => {
  workers.killAll();
  await temporal?.workflow
    .getHandle(clusterMonitorWorkflowId(queues.probed))
    .terminate('test over')
    .catch(() => undefined);
  for (const c of [local, b]) if (c !== undefined) await deleteNamespace(c, namespace);
  for (const own of ownNamespaces) await deleteNamespace(own.cluster(), own.name);
  await connection?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  if (startedB && envBoolean.parse(process.env.ASSAY_KEEP_STACK) !== true)
    await stackDown({ clusters: ['b'] });
}, 5 * 60_000);

describe('cluster b of the local stack', () => {
  it('is a cluster of its own: one Ready node, assay-node-b, on the namespace side of the veth', async () => {
    const nodes = (await b.core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name)).toEqual([CLUSTER_B.nodeName]);
    const node = nodes[0];
    expect(node?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node?.status?.addresses).toContainEqual({ type: 'InternalIP', address: CLUSTER_B.netns?.nodeIp });
    // The local cluster does not see it.
    const names = (await local.core.listNode()).items.map((n) => n.metadata?.name);
    expect(names).not.toContain(CLUSTER_B.nodeName);
  });

  it('runs a busybox pod to completion in its own pod range, reaching its API server by Service IP', async () => {
    const ns = await createNamespace(b, 'clusters-b');
    ownNamespaces.push({ cluster: () => b, name: ns });
    // /readyz is open to anonymous clients; kube-proxy in b's namespace sends the Service IP to the API server on the
    // host, which the pod reaches through the node's veth.
    const readyz = `https://${CLUSTER_B.apiserverServiceIp}/readyz`;
    const script = `echo hello from b; wget -q -O - --no-check-certificate ${readyz}; echo`;
    await b.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: 'hello' },
        spec: podSpec([container('main', BUSYBOX, ['sh', '-c', script])]),
      },
    });
    const terminated = await waitForTermination(b, ns, 'hello');
    expect(terminated.exitCode).toBe(0);
    const pod = await b.core.readNamespacedPod({ name: 'hello', namespace: ns });
    expect(pod.spec?.nodeName).toBe(CLUSTER_B.nodeName);
    expect(pod.status?.podIP).toMatch(/^10\.245\.0\.\d+$/);
    // Logs come through b's API server from b's kubelet, across the veth.
    const log = await b.core.readNamespacedPodLog({ name: 'hello', namespace: ns, container: 'main' });
    expect(log).toBe('hello from b\nok\n');
  });

  it('is reported healthy by stack status beside local', async () => {
    const report = await stackStatus({ clusters: ['local', 'b'] });
    const status = report.components.find((c) => c.name === CLUSTER_B.component);
    expect(status).toMatchObject({ healthy: true, address: `https://127.0.0.1:${CLUSTER_B.apiserverPort}` });
    expect(status?.detail).toContain(`node ${CLUSTER_B.nodeName} Ready`);
    expect(report.components.find((c) => c.name === 'kubernetes')?.healthy).toBe(true);
  });
});

describe('selection, cordon and spread', () => {
  /** What `assay clusters -o json` shows once both clusters are healthy on the probed queue. */
  let clusters: Promise<{ list: ClusterHealth[]; ms: number }>;
  let bySelector: Promise<{ toB: EvaluationRecord; toLocal: EvaluationRecord; none: EvaluationRecord }>;
  let byGpu: Promise<EvaluationRecord>;
  let cordon: Promise<{ record: EvaluationRecord; json: string; table: string }>;
  let spread: Promise<{ records: EvaluationRecord[]; statuses: EvaluationStatus[]; ms: number }>;

  beforeAll(() => {
    clusters = launch(async () => {
      const since = Date.now();
      const list = await waitFor(
        async () => {
          const run = await runAssay(['clusters', '-o', 'json'], { ASSAY_TASK_QUEUE: queues.probed });
          if (run.code !== 0) return undefined;
          const seen = JSON.parse(run.stdout) as ClusterHealth[];
          return seen.length === 2 && seen.every((c) => c.healthy) ? seen : undefined;
        },
        { timeoutMs: 60_000, what: 'assay clusters to show local and b healthy' },
      );
      return { list, ms: Date.now() - since };
    });
    bySelector = launch(async () => {
      // Each against registry order: b is second on `ordered`, local second on `bFirst`.
      const [toB, toLocal, none] = await Promise.all([
        submit(
          queues.ordered,
          { command: ['echo', 'on b'], cluster: { selector: { region: 'b' } } },
          'sel-b',
        ),
        submit(
          queues.bFirst,
          { command: ['echo', 'on local'], cluster: { selector: { region: 'local' } } },
          'sel-local',
        ),
        submit(queues.ordered, { command: ['true'], cluster: { selector: { region: 'mars' } } }, 'sel-none'),
      ]);
      return {
        toB: await assayOn(queues.ordered).result(toB),
        toLocal: await assayOn(queues.bFirst).result(toLocal),
        none: await assayOn(queues.ordered).result(none),
      };
    });
    byGpu = launch(async () => {
      const id = await submit(queues.ordered, { command: ['echo', 't4'], cluster: { gpuType: 't4' } }, 'gpu');
      return assayOn(queues.ordered).result(id);
    });
    cordon = launch(async () => {
      const id = await submit(queues.cordoned, { command: ['echo', 'not on local'] }, 'cordon');
      const record = await assayOn(queues.cordoned).result(id);
      const cliEnv = { ASSAY_TASK_QUEUE: queues.cordoned };
      const json = await runAssay(['status', id, '-o', 'json'], cliEnv);
      const table = await runAssay(['status', id], cliEnv);
      if (json.code !== 0 || table.code !== 0)
        throw new Error(`assay status failed: ${json.stderr}${table.stderr}`);
      return { record, json: json.stdout, table: table.stdout };
    });
    spread = launch(async () => {
      // Placement reads the monitor's view only once it has one: wait for both clusters to be probed healthy.
      await clusters;
      const since = Date.now();
      const assay = assayOn(queues.probed);
      const ids = await Promise.all(
        Array.from({ length: 40 }, (_, i) => submit(queues.probed, { command: ['true'] }, `spread${i}`)),
      );
      const records = await Promise.all(ids.map((id) => assay.result(id)));
      const ms = Date.now() - since;
      const statuses = await Promise.all(ids.map((id) => assay.status(id)));
      return { records, statuses, ms };
    });
  });

  it('assay clusters -o json shows local and b healthy with capacity', async () => {
    const { list, ms } = await clusters;
    console.log(`[multi-cluster] both clusters healthy in assay clusters after ${seconds(ms)}`);
    expect(list.map((c) => c.name)).toEqual(['b', 'local']);
    for (const c of list) {
      expect(c).toMatchObject({ healthy: true, reason: null, cordoned: false });
      expect(c.capacity.cpuMillis.total).toBeGreaterThan(0);
      expect(c.capacity.cpuMillis.free).toBeGreaterThan(0);
      expect(c.capacity.memoryBytes.total).toBeGreaterThan(0);
      expect(c.workerPollers).toBeGreaterThan(0);
      expect(c.nodes).toEqual({ total: 1, schedulable: 1 });
    }
  });

  it("a spec's label selector picks the cluster with that label, against registry order", async () => {
    const { toB, toLocal, none } = await bySelector;
    expect(toB).toMatchObject({ outcome: 'Succeeded', cluster: 'b' });
    expect(toB.attempts.map((a) => a.cluster)).toEqual(['b']);
    expect(await stored(toB.attempts[0]?.logs?.stdout)).toBe('on b\n');
    expect(toLocal).toMatchObject({ outcome: 'Succeeded', cluster: 'local' });
    expect(toLocal.attempts.map((a) => a.cluster)).toEqual(['local']);
    // A selector no cluster matches fails at once, naming each cluster's reason.
    expect(none).toMatchObject({ outcome: 'ConfigurationError', reason: 'NoClusterAvailable' });
    expect(none.message).toContain('local: labels do not match the selector (region: wants mars, has local)');
    expect(none.message).toContain('b: labels do not match the selector (region: wants mars, has b)');
  });

  it('a GPU type picks the cluster offering it (b), although local comes first', async () => {
    const record = await byGpu;
    expect(record).toMatchObject({ outcome: 'Succeeded', cluster: 'b' });
    expect(record.attempts.map((a) => a.cluster)).toEqual(['b']);
  });

  it('a cordoned local sends new evaluations to b, and assay status says local was cordoned', async () => {
    const { record, json, table } = await cordon;
    expect(record).toMatchObject({ outcome: 'Succeeded', cluster: 'b' });
    const status = JSON.parse(json) as EvaluationStatus;
    expect(status.cluster).toBe('b');
    expect(status.placement?.candidates.map((c) => c.name)).toEqual(['b']);
    expect(status.placement?.excluded).toContainEqual(
      expect.objectContaining({ name: 'local', reason: 'cordoned' }),
    );
    expect(table).toMatch(/excluded\s*│?\s*local: cordoned/);
  });

  it('spreads 40 evaluations submitted at once over both clusters by their scores', async () => {
    const { records, statuses, ms } = await spread;
    const counts: Record<string, number> = {};
    for (const r of records) counts[r.cluster ?? 'none'] = (counts[r.cluster ?? 'none'] ?? 0) + 1;
    console.log(
      `[multi-cluster] spread of 40 evaluations: ${JSON.stringify(counts)}, all done in ${seconds(ms)}`,
    );
    expect(records.map((r) => r.outcome)).toEqual(Array(40).fill('Succeeded'));
    expect(Object.keys(counts).sort()).toEqual(['b', 'local']);
    expect(counts.local).toBeGreaterThanOrEqual(10);
    expect(counts.b).toBeGreaterThanOrEqual(10);
    // Each placement accounts for both clusters: scored, or left out for its state at that moment (a probe that timed
    // out on this loaded machine says unhealthy until the next one) — never for its requirements.
    const leftOut = statuses.flatMap((s) => s.placement?.excluded ?? []);
    if (leftOut.length > 0)
      console.log(`[multi-cluster] spread: left out for a moment: ${JSON.stringify(leftOut)}`);
    expect(leftOut.every((e) => e.transient === true)).toBe(true);
    expect(statuses.filter((s) => s.placement?.candidates.length === 2).length).toBeGreaterThanOrEqual(20);
    for (const status of statuses) {
      const candidates = status.placement?.candidates ?? [];
      const excluded = status.placement?.excluded ?? [];
      expect([...candidates, ...excluded].map((c) => c.name).sort()).toEqual(['b', 'local']);
      for (const c of candidates) {
        expect(c.score).toBeGreaterThan(0);
        expect(Object.keys(c.terms)).toEqual(expect.arrayContaining(['headroom', 'price', 'spread']));
      }
      // The chosen cluster is the best-scored candidate.
      expect(candidates[0]?.name).toBe(status.cluster);
    }
  });
});

describe('spill-over', () => {
  it('moves an evaluation local cannot fit to b after unschedulableSeconds; the move costs no retry', async () => {
    // Leave local about a CPU free for the suites beside this one; ask for more than that, and no more than b has.
    const keep = 1000;
    const [localFree, bFree] = await Promise.all([freeCpuMillis(local), freeCpuMillis(b)]);
    const request = bFree - 200;
    console.log(
      `[multi-cluster] free CPU: local ${localFree}m, b ${bFree}m; the evaluation asks ${request}m`,
    );
    expect(request).toBeGreaterThanOrEqual(keep + 300);
    const fillerNs = await createNamespace(local, 'mc-filler');
    ownNamespaces.push({ cluster: () => local, name: fillerNs });
    const filler = Math.max(0, localFree - keep);
    if (filler > 0) {
      await local.core.createNamespacedPod({
        namespace: fillerNs,
        body: {
          metadata: { name: 'filler' },
          spec: podSpec([
            container('main', BUSYBOX, ['sleep', '3600'], {
              resources: { requests: { cpu: `${filler}m`, memory: '8Mi' } },
            }),
          ]),
        },
      });
    }
    const deleteFiller = (): Promise<unknown> =>
      local.core
        .deleteNamespacedPod({ name: 'filler', namespace: fillerNs, gracePeriodSeconds: 0 })
        .catch(() => undefined);
    try {
      if (filler > 0) {
        await waitFor(
          async () => {
            const pod = await local.core.readNamespacedPod({ name: 'filler', namespace: fillerNs });
            return pod.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'True');
          },
          { timeoutMs: 30_000, what: `the filler pod (${filler}m CPU) to be scheduled on local` },
        );
      }
      const left = await freeCpuMillis(local);
      console.log(`[multi-cluster] filler ${filler}m on local: ${left}m left free`);
      expect(left).toBeLessThan(request);

      const assay = assayOn(queues.ordered);
      const id = await submit(
        queues.ordered,
        {
          command: ['echo', 'spilled'],
          resources: { cpu: `${request}m`, memory: '32Mi', ephemeralStorage: '16Mi' },
          retries: { maxAttempts: 1, backoffSeconds: 1 },
        },
        'spill',
      );
      const since = Date.now();
      const first = await waitFor(
        async () => {
          const a = (await assay.status(id)).attempts[0];
          return a?.kind != null ? a : undefined;
        },
        { timeoutMs: 90_000, what: 'attempt 1 to end' },
      );
      const movedAfter = Date.now() - since;
      await deleteFiller();
      console.log(`[multi-cluster] spill-over: attempt 1 on local ended after ${seconds(movedAfter)}`);
      expect(first).toMatchObject({ cluster: 'local', kind: 'Infrastructure', reason: 'Unschedulable' });
      expect(first.message).toMatch(/unschedulable for \d+ s/);
      expect(movedAfter).toBeGreaterThanOrEqual(bounds.unschedulableSeconds * 1000 - 1000);

      const record = await assay.result(id);
      // maxAttempts 1: the move did not use up the only attempt.
      expect(record).toMatchObject({ outcome: 'Succeeded', cluster: 'b' });
      expect(record.attempts.map((a) => [a.cluster, a.kind, a.reason])).toEqual([
        ['local', 'Infrastructure', 'Unschedulable'],
        ['b', 'Succeeded', expect.anything()],
      ]);
      expect(await stored(record.attempts[1]?.logs?.stdout)).toBe('spilled\n');
    } finally {
      await deleteFiller();
    }
  });
});

describe('lost clusters', () => {
  it("a killed cluster worker: no one picks up local's task, and after lostClusterSeconds it runs on b", async () => {
    await workers.kill(orderedLocalWorker);
    const assay = assayOn(queues.ordered);
    const since = Date.now();
    const id = await submit(queues.ordered, { command: ['echo', 'rescued'] }, 'lost-worker');
    const record = await assay.result(id);
    const took = Date.now() - since;
    const margin = took - bounds.lostClusterSeconds * 1000;
    console.log(
      `[multi-cluster] lost worker: finished in ${seconds(took)}, ` +
        `${seconds(margin)} beyond lostClusterSeconds (${bounds.lostClusterSeconds} s)`,
    );
    expect(record).toMatchObject({ outcome: 'Succeeded', cluster: 'b' });
    expect(record.attempts.map((a) => [a.cluster, a.kind, a.reason])).toEqual([
      ['local', 'Infrastructure', 'ClusterWorkerLost'],
      ['b', 'Succeeded', expect.anything()],
    ]);
    expect(await stored(record.attempts[1]?.logs?.stdout)).toBe('rescued\n');
    expect(took).toBeGreaterThanOrEqual(bounds.lostClusterSeconds * 1000);
    expect(margin).toBeLessThan(30_000);
  });

  it("b's API server stopped mid-run: the attempt ends ClusterUnreachable, the next runs on local, both logs stored", async () => {
    const apiserver = await daemonState({ name: 'kube-apiserver', dir: kubeLayout(paths, CLUSTER_B).dir });
    expect(apiserver.state).toBe('running');
    const pid = apiserver.record!.pid;
    const assay = assayOn(queues.bFirst);
    // Attempt 1 sleeps long enough to be caught running; the retry on local ends at once.
    const script =
      'echo first-line; if [ "$ASSAY_ATTEMPT" = 1 ]; then sleep 60; fi; echo "attempt $ASSAY_ATTEMPT done"';
    const id = await submit(queues.bFirst, { command: ['sh', '-c', script] }, 'lost-api');
    const running = await waitFor(
      async () => {
        const s = await assay.status(id);
        return s.phase === 'Running' && s.attempt === 1 && s.job !== null ? s : undefined;
      },
      { timeoutMs: 60_000, what: 'attempt 1 to run' },
    );
    expect(running.cluster).toBe('b');
    const pod = await podOfJob(b, namespace, running.job!);
    await waitFor(
      async () =>
        (await b.core.readNamespacedPodLog({ name: pod, namespace, container: 'main' })).includes(
          'first-line',
        ),
      { timeoutMs: 60_000, what: "attempt 1's first line on b" },
    );
    // Time for the log capture's stream to carry the line too.
    await new Promise((r) => setTimeout(r, 2000));

    let stoppedAt = 0;
    let unreachableAfter = 0;
    let failoverAfter = 0;
    try {
      process.kill(pid, 'SIGSTOP');
      stoppedAt = Date.now();
      await waitFor(async () => ((await assay.status(id)).attempts[0]?.kind != null ? true : undefined), {
        timeoutMs: bounds.lostClusterSeconds * 1000 + 60_000,
        what: 'attempt 1 to end',
        intervalMs: 500,
      });
      unreachableAfter = Date.now() - stoppedAt;
      await waitFor(
        async () => {
          const s = await assay.status(id);
          return s.attempt >= 2 && (s.phase === 'Running' || s.outcome !== null) ? true : undefined;
        },
        { timeoutMs: 90_000, what: 'attempt 2 to run', intervalMs: 500 },
      );
      failoverAfter = Date.now() - stoppedAt;
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    console.log(
      `[multi-cluster] lost API server: attempt 1 ended ${seconds(unreachableAfter)} after SIGSTOP; ` +
        `failover (SIGSTOP → attempt 2 Running) ${seconds(failoverAfter)}`,
    );
    const record = await assay.result(id);
    expect(record).toMatchObject({ outcome: 'Succeeded', cluster: 'local' });
    expect(unreachableAfter).toBeGreaterThanOrEqual(bounds.lostClusterSeconds * 1000 - 1000);
    expect(unreachableAfter).toBeLessThan(bounds.lostClusterSeconds * 1000 + 15_000);
    // Attempt 1 ran on b (its first line was read there) and its log was stored although b stopped answering.
    expect(record.attempts[0]).toMatchObject({
      cluster: 'b',
      kind: 'Infrastructure',
      reason: 'ClusterUnreachable',
      startedAt: expect.any(String),
      logs: expect.objectContaining({ stdout: expect.any(String) }),
      message: expect.not.stringContaining('log not stored'),
    });
    expect(record.attempts[1]).toMatchObject({
      cluster: 'local',
      kind: 'Succeeded',
      logs: expect.objectContaining({ stdout: expect.any(String) }),
    });
    expect(record.attempts).toHaveLength(2);
    expect(await stored(record.attempts[0]?.logs?.stdout)).toContain('first-line\n');
    expect(await stored(record.attempts[1]?.logs?.stdout)).toBe('first-line\nattempt 2 done\n');
  });
});
