import { createServer, type Server } from 'node:http';
import { createServer as createTcpServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { KubeConfig } from '@kubernetes/client-node';
import { healthReason, kubeAccessOf, probeCluster, type KubeAccess } from '../../../src/placement/probe.js';
import { mergeView } from '../../../src/placement/view.js';
import type { ClusterHealth } from '../../../src/placement/types.js';
import { clusterEntrySchema } from '../../../src/spec/worker-config.js';

const settings = { probeTimeoutSeconds: 0.5, gpuTypeLabel: 'nvidia.com/gpu.product' };
const entry = clusterEntrySchema.parse({ name: 'fake', gpuTypes: ['a100'] });

function accessTo(server: string): KubeAccess {
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [{ name: 'c', server, skipTLSVerify: true }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return { config };
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

/** A port nothing listens on: bound, then freed. */
async function freedPort(): Promise<number> {
  const s = createTcpServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address() as AddressInfo;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const requests: string[] = [];
let readyz = 200;
const api = createServer((req, res) => {
  requests.push(req.url ?? '');
  const url = new URL(req.url ?? '/', 'http://x');
  if (url.pathname === '/readyz') {
    res.writeHead(readyz).end(readyz === 200 ? 'ok' : '[-]etcd failed: reason withheld\nreadyz check failed');
  } else if (url.pathname === '/api/v1/nodes') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        items: [
          {
            metadata: { name: 'n1', labels: { 'nvidia.com/gpu.product': 'NVIDIA-A100' } },
            spec: {},
            status: {
              allocatable: { cpu: '4', memory: '8Gi', 'nvidia.com/gpu': '2' },
              conditions: [{ type: 'Ready', status: 'True' }],
            },
          },
        ],
      }),
    );
  } else if (url.pathname === '/api/v1/pods') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(
      JSON.stringify({
        items: [
          {
            metadata: {
              namespace: 'assay-t',
              labels: { 'app.kubernetes.io/managed-by': 'assay', 'assay.dev/evaluation-id': 'e' },
            },
            spec: {
              nodeName: 'n1',
              containers: [{ resources: { requests: { cpu: '1', 'nvidia.com/gpu': '1' } } }],
            },
            status: { phase: 'Running' },
          },
        ],
      }),
    );
  } else res.writeHead(404).end();
});
// Accepts connections and never answers.
const silent = createServer(() => undefined);
let apiPort: number;
let silentPort: number;

beforeAll(async () => {
  apiPort = await listen(api);
  silentPort = await listen(silent);
});
afterAll(async () => {
  silent.closeAllConnections();
  await Promise.all([api, silent].map((s) => new Promise((resolve) => s.close(resolve))));
});

describe('probeCluster', () => {
  it('reads readiness, capacity and evaluation pods in 3 requests: /readyz, then nodes and pods from the watch cache', async () => {
    requests.length = 0;
    readyz = 200;
    const result = await probeCluster(
      entry,
      { kube: accessTo(`http://127.0.0.1:${apiPort}`), pollers: () => Promise.resolve(2), settings },
      'assay',
    );
    expect(result.apiRequests).toBe(3);
    expect(requests.map((r) => r.split('?')[0]).sort()).toEqual(['/api/v1/nodes', '/api/v1/pods', '/readyz']);
    expect(requests.find((r) => r.startsWith('/api/v1/pods'))).toContain('resourceVersion=0');
    expect(decodeURIComponent(requests.find((r) => r.startsWith('/api/v1/pods')) ?? '')).toContain(
      'fieldSelector=status.phase!=Succeeded,status.phase!=Failed',
    );
    expect(result.health).toMatchObject({
      name: 'fake',
      healthy: true,
      reason: null,
      cordoned: false,
      capacity: {
        cpuMillis: { free: 3000, total: 4000 },
        memoryBytes: { free: 8 * 1024 ** 3, total: 8 * 1024 ** 3 },
        gpus: { a100: { free: 1, total: 2 } },
      },
      running: 1,
      queued: 0,
      workerPollers: 2,
      nodes: { total: 1, schedulable: 1 },
    });
    expect(result.health.lastSeen).not.toBeNull();
  });

  it('is unhealthy, not ready, with what /readyz said, after one request', async () => {
    requests.length = 0;
    readyz = 500;
    const result = await probeCluster(
      entry,
      { kube: accessTo(`http://127.0.0.1:${apiPort}`), pollers: () => Promise.resolve(1), settings },
      'assay',
    );
    readyz = 200;
    expect(result.apiRequests).toBe(1);
    expect(result.health.healthy).toBe(false);
    expect(result.health.reason).toMatch(/^API server not ready: answered 500: \[-\]etcd failed/);
    expect(result.health.lastSeen).toBeNull();
  });

  it('is unhealthy when the port is closed, or the server does not answer within the probe timeout', async () => {
    const closed = await probeCluster(
      entry,
      {
        kube: accessTo(`http://127.0.0.1:${await freedPort()}`),
        pollers: () => Promise.resolve(1),
        settings,
      },
      'assay',
    );
    expect(closed.health).toMatchObject({ healthy: false, lastSeen: null });
    expect(closed.health.reason).toMatch(/^API server unreachable: .*ECONNREFUSED/);
    const started = Date.now();
    const hung = await probeCluster(
      entry,
      { kube: accessTo(`http://127.0.0.1:${silentPort}`), pollers: () => Promise.resolve(1), settings },
      'assay',
    );
    expect(Date.now() - started).toBeLessThan(2000);
    expect(hung.health.reason).toBe('API server unreachable: no answer within 0.5 s');
  });

  it('is unhealthy without credentials and without a worker polling the cluster queue, naming both', async () => {
    const access = kubeAccessOf({
      inCluster: false,
      kubeconfig: { path: '/nonexistent/kubeconfig', context: null },
    });
    expect('error' in access && access.error).toMatch(/^bad kubeconfig: .*\/nonexistent\/kubeconfig.*ENOENT/);
    const result = await probeCluster(
      entry,
      { kube: access, pollers: () => Promise.resolve(0), settings },
      'q',
    );
    expect(result.apiRequests).toBe(0);
    expect(result.health.healthy).toBe(false);
    expect(result.health.reason).toMatch(/^bad kubeconfig: .*; no worker polls q-cluster-fake$/);
  });

  it('names a context the kubeconfig does not have', () => {
    const access = kubeAccessOf({ inCluster: false, kubeconfig: { path: null, context: 'no-such-context' } });
    expect('error' in access && access.error).toMatch(/^bad kubeconfig: /);
  });

  it('leaves pollers out of health when Temporal cannot say', async () => {
    const result = await probeCluster(
      entry,
      {
        kube: accessTo(`http://127.0.0.1:${apiPort}`),
        pollers: () => Promise.reject(new Error('deadline')),
        settings,
      },
      'assay',
    );
    expect(result.health).toMatchObject({ healthy: true, workerPollers: null });
  });
});

describe('healthReason', () => {
  it('joins the problems in order; null when there is none', () => {
    expect(healthReason({ api: null, nodes: null, worker: null })).toBeNull();
    expect(healthReason({ api: 'a', nodes: null, worker: 'w' })).toBe('a; w');
  });
});

describe('mergeView', () => {
  const health = (lastSeen: string | null): ClusterHealth => ({
    name: 'a',
    healthy: lastSeen !== null,
    reason: null,
    cordoned: false,
    capacity: { cpuMillis: { free: 0, total: 0 }, memoryBytes: { free: 0, total: 0 }, gpus: {} },
    running: 0,
    queued: 0,
    workerPollers: null,
    lastSeen,
    probedAt: '2026-12-02T00:00:10.000Z',
  });
  it('keeps the last lastSeen of a cluster the round did not reach, and drops clusters gone from the registry', () => {
    const before = { a: health('2026-12-02T00:00:00.000Z'), gone: { ...health(null), name: 'gone' } };
    expect(mergeView(before, { a: health(null) }).a?.lastSeen).toBe('2026-12-02T00:00:00.000Z');
    expect(Object.keys(mergeView(before, { a: health(null) }))).toEqual(['a']);
    expect(mergeView(before, { a: health('2026-12-02T00:00:05.000Z') }).a?.lastSeen).toBe(
      '2026-12-02T00:00:05.000Z',
    );
  });
});
