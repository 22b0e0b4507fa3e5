/**
 * Health and capacity on the real local cluster (docs/multi-cluster.md): the probe sees the local node's capacity in
 * three API requests and calls it healthy; a registry entry whose kubeconfig file does not exist and one whose API
 * server port is closed are unhealthy with their reasons within a few seconds, while the real one stays healthy. A
 * worker (child process, as production starts it) with all three in its registry starts anyway, serves the others,
 * runs the cluster monitor, and `assay clusters -o json|table` and its `/metrics` show all three.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { AssayClient } from '../../src/client/assay-client.js';
import { createKubeClients } from '../../src/kube/clients.js';
import { nodeUnschedulableReason, quantityMillis } from '../../src/placement/capacity.js';
import { createClusterProber } from '../../src/placement/probe.js';
import type { ClusterHealth } from '../../src/placement/types.js';
import type { EvaluationStatus } from '../../src/spec/record.js';
import { clusterMonitorWorkflowId } from '../../src/placement/view.js';
import { placementConfigSchema } from '../../src/spec/placement-config.js';
import { clusterRegistrySchema } from '../../src/spec/worker-config.js';
import { localStackCollector } from '../../src/workers/config.js';
import { freeLoopbackPort } from '../../src/workers/temporal-metrics.js';
import { runAssay } from '../support/cli.js';
import { createWorkerProcesses, manifestBuilder, newId } from '../support/evaluation-harness.js';
import { stackTestEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';
import { BUSYBOX } from './kube/cluster.js';

const env = stackTestEnv();
const queue = newId('assay-it-clusters');
const workers = createWorkerProcesses();
let dir: string;
let connection: Connection;
let client: Client;

/** A port nothing listens on: bound, then freed. */
async function freedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** The registry: the real cluster, one whose kubeconfig file is missing, one whose API server port is closed. */
let registry: unknown[];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'assay-clusters-'));
  const closed = join(dir, 'closed.kubeconfig');
  await writeFile(
    closed,
    stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'closed',
          cluster: { server: `https://127.0.0.1:${await freedPort()}`, 'insecure-skip-tls-verify': true },
        },
      ],
      users: [{ name: 'closed', user: { token: 'unused' } }],
      contexts: [{ name: 'closed', context: { cluster: 'closed', user: 'closed' } }],
      'current-context': 'closed',
    }),
  );
  // `closed` first: in registry order (no view) it would be chosen; the probe's view leaves it out.
  registry = [
    { name: 'closed', kubeconfig: { path: closed } },
    { name: 'local', kubeconfig: { path: process.env.KUBECONFIG ?? null }, collector: localStackCollector },
    { name: 'missing', kubeconfig: { path: join(dir, 'no-such.kubeconfig') } },
  ];
  connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
});

afterAll(async () => {
  workers.killAll();
  await client?.workflow
    .getHandle(clusterMonitorWorkflowId(queue))
    .terminate('test over')
    .catch(() => undefined);
  await connection?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('the probe', () => {
  it("sees the local node's capacity in 3 requests; a missing kubeconfig and a closed port are unhealthy", async () => {
    const prober = createClusterProber({
      registry: clusterRegistrySchema.parse(registry),
      settings: placementConfigSchema.parse({ probeTimeoutSeconds: 3 }),
      taskQueue: queue,
    });
    const round = await prober.probe();
    process.stderr.write(
      `[clusters] one probe round: ${round.durationMs} ms, API requests ${JSON.stringify(round.apiRequests)}\n`,
    );
    // Bounded: the closed port is refused at once, the missing file costs no request.
    expect(round.durationMs).toBeLessThan(5000);
    expect(round.apiRequests).toEqual({ local: 3, missing: 0, closed: 1 });

    const local = round.view.local!;
    expect(local).toMatchObject({ healthy: true, reason: null, workerPollers: null });
    expect(local.lastSeen).not.toBeNull();
    const kube = createKubeClients({
      kind: 'kubeconfig',
      path: process.env.KUBECONFIG ?? null,
      context: null,
    });
    const nodes = (await kube.core.listNode()).items.filter((n) => nodeUnschedulableReason(n) === null);
    expect(nodes.length).toBeGreaterThan(0);
    expect(local.nodes?.schedulable).toBe(nodes.length);
    const allocatable = nodes.reduce((sum, n) => sum + quantityMillis(n.status?.allocatable?.cpu), 0);
    expect(local.capacity.cpuMillis.total).toBe(allocatable);
    expect(local.capacity.cpuMillis.free).toBeGreaterThan(0);
    expect(local.capacity.cpuMillis.free).toBeLessThanOrEqual(local.capacity.cpuMillis.total);
    expect(local.capacity.memoryBytes.free).toBeGreaterThan(0);
    expect(local.capacity.memoryBytes.free).toBeLessThanOrEqual(local.capacity.memoryBytes.total);

    expect(round.view.missing).toMatchObject({ healthy: false, lastSeen: null });
    expect(round.view.missing?.reason).toMatch(/^bad kubeconfig: .*no-such\.kubeconfig/);
    expect(round.view.closed).toMatchObject({ healthy: false, lastSeen: null });
    expect(round.view.closed?.reason).toMatch(/^API server unreachable: .*ECONNREFUSED/);
  });
});

describe('a worker with a bad registry entry, the cluster monitor and assay clusters', () => {
  let metricsPort: number;

  beforeAll(async () => {
    metricsPort = await freeLoopbackPort();
    const config = join(dir, 'worker.yaml');
    await writeFile(
      config,
      stringify({
        clusters: registry,
        placement: { probeIntervalSeconds: 1, probeTimeoutSeconds: 2 },
        metrics: { port: metricsPort },
      }),
    );
    // It starts although `missing` cannot be served, and serves `local` and `closed`.
    await workers.start(queue, {
      ASSAY_WORKER_CONFIG: config,
      ASSAY_CLUSTER_MONITOR: 'true',
      ASSAY_JANITOR_SETUP: 'false',
    });
  }, 120_000);

  it('shows every cluster by assay clusters -o json within a few seconds, each unhealthy one with its reason', async () => {
    const cliEnv = { ASSAY_TASK_QUEUE: queue };
    const started = Date.now();
    const clusters = await waitFor(
      async () => {
        const run = await runAssay(['clusters', '-o', 'json'], cliEnv);
        if (run.code !== 0) return undefined;
        const list = JSON.parse(run.stdout) as ClusterHealth[];
        const local = list.find((c) => c.name === 'local');
        return list.length === 3 && local?.healthy === true ? list : undefined;
      },
      { timeoutMs: 30_000, what: 'assay clusters to show the three clusters, local healthy' },
    );
    expect(Date.now() - started).toBeLessThan(20_000);
    expect(clusters.map((c) => c.name)).toEqual(['closed', 'local', 'missing']);
    const [closed, local, missing] = clusters;
    expect(local).toMatchObject({ healthy: true, reason: null, cordoned: false });
    expect(local!.workerPollers).toBeGreaterThan(0);
    expect(local!.capacity.cpuMillis.total).toBeGreaterThan(0);
    expect(missing).toMatchObject({ healthy: false, workerPollers: 0, lastSeen: null });
    expect(missing!.reason).toMatch(/^bad kubeconfig: .*; no worker polls .*-cluster-missing$/);
    expect(closed).toMatchObject({ healthy: false, lastSeen: null });
    expect(closed!.workerPollers).toBeGreaterThan(0);
    expect(closed!.reason).toMatch(/^API server unreachable: .*ECONNREFUSED/);

    const table = await runAssay(['clusters'], cliEnv);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/name.*healthy.*cordoned.*cpu free\/total/);
    expect(table.stdout).toMatch(/ local .*yes/);
    expect(table.stdout).toMatch(/ missing .*no.*bad kubeconfig/);
  });

  it("exports each cluster's health and capacity on the worker's /metrics", async () => {
    const text = await waitFor(
      async () => {
        const body = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
        return body.includes('assay_cluster_healthy{cluster="local"} 1') ? body : undefined;
      },
      { timeoutMs: 15_000, what: 'the cluster gauges' },
    );
    expect(text).toContain('assay_cluster_healthy{cluster="missing"} 0');
    expect(text).toContain('assay_cluster_healthy{cluster="closed"} 0');
    expect(text).toMatch(/^assay_cluster_capacity_total\{cluster="local",resource="cpu"\} [1-9]/m);
    expect(text).toMatch(/^assay_cluster_capacity_free\{cluster="local",resource="memory_bytes"\} [1-9]/m);
    expect(text).toMatch(/^assay_cluster_evaluations\{cluster="local",state="running"\} \d+/m);
  });

  it('places a new evaluation on the healthy cluster, and assay status says why the others were left out', async () => {
    await waitFor(
      async () => {
        const run = await runAssay(['clusters', '-o', 'json'], { ASSAY_TASK_QUEUE: queue });
        const list = run.code === 0 ? (JSON.parse(run.stdout) as ClusterHealth[]) : [];
        return list.find((c) => c.name === 'closed')?.healthy === false ? true : undefined;
      },
      { timeoutMs: 30_000, what: 'the monitor to see closed as unhealthy' },
    );
    const assay = new AssayClient(client, { taskQueue: queue });
    const manifest = manifestBuilder({
      team: newId('itc'),
      defaults: {
        image: BUSYBOX,
        resources: { cpu: '100m', memory: '32Mi', ephemeralStorage: '32Mi' },
        timeoutSeconds: 60,
      },
    });
    const started = await assay.start(manifest({ command: ['echo', 'placed'] }), {
      idempotencyKey: newId('place'),
    });
    const record = await assay.result(started.evaluationId);
    expect(record).toMatchObject({ outcome: 'Succeeded', cluster: 'local' });
    const status = await runAssay(['status', started.evaluationId, '-o', 'json'], {
      ASSAY_TASK_QUEUE: queue,
    });
    expect(status.code).toBe(0);
    const placement = (JSON.parse(status.stdout) as EvaluationStatus).placement;
    expect(placement?.candidates.map((c) => c.name)).toEqual(['local']);
    expect(placement?.excluded).toEqual([
      {
        name: 'closed',
        reason: expect.stringMatching(/^unhealthy: API server unreachable/),
        transient: true,
      },
      { name: 'missing', reason: expect.stringMatching(/^unhealthy: bad kubeconfig/), transient: true },
    ]);
    const table = await runAssay(['status', started.evaluationId], { ASSAY_TASK_QUEUE: queue });
    expect(table.stdout).toMatch(/chosen because.*the only cluster that fits/);
  });

  it('says clearly when no monitor runs for the queue', async () => {
    const run = await runAssay(['clusters'], { ASSAY_TASK_QUEUE: newId('assay-it-nomonitor') });
    expect(run.code).toBe(3);
    expect(run.stderr).toMatch(/no cluster monitor runs for task queue assay-it-nomonitor-\w+/);
  });
});
