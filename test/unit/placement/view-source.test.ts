import { describe, expect, it } from '@jest/globals';
import { WorkflowNotFoundError } from '@temporalio/client';
import { Registry } from 'prom-client';
import { createClusterViewSource } from '../../../src/placement/view-source.js';
import type { ClusterViewAnswer } from '../../../src/placement/view.js';
import type { ClusterHealth } from '../../../src/placement/types.js';
import { registerClusterMetrics } from '../../../src/workers/cluster-metrics.js';
import { agoText, clustersTable, memoryText } from '../../../src/client/cli/clusters.js';

const gi = 1024 ** 3;
const local: ClusterHealth = {
  name: 'local',
  healthy: true,
  reason: null,
  cordoned: false,
  capacity: {
    cpuMillis: { free: 3500, total: 4000 },
    memoryBytes: { free: 6 * gi, total: 8 * gi },
    gpus: { a100: { free: 1, total: 2 } },
  },
  running: 2,
  queued: 1,
  workerPollers: 3,
  lastSeen: '2026-12-02T10:00:00.000Z',
  probedAt: '2026-12-02T10:00:00.000Z',
};
const gone: ClusterHealth = {
  ...local,
  name: 'gone',
  healthy: false,
  reason: 'API server unreachable: connect ECONNREFUSED 127.0.0.1:1',
  cordoned: true,
  capacity: { cpuMillis: { free: 0, total: 0 }, memoryBytes: { free: 0, total: 0 }, gpus: {} },
  running: 0,
  queued: 0,
  workerPollers: 0,
  lastSeen: null,
};

/** A client whose monitor answers `answer` (or throws it), counting the queries. */
function fakeClient(answer: () => ClusterViewAnswer) {
  const calls = { queries: 0 };
  const client = {
    withDeadline: <R>(_deadline: number | Date, fn: () => Promise<R>) => fn(),
    workflow: {
      getHandle: () => ({
        query: () => {
          calls.queries++;
          return Promise.resolve().then(answer);
        },
      }),
    },
  };
  return { client: client as unknown as Parameters<typeof createClusterViewSource>[0]['client'], calls };
}

describe('createClusterViewSource', () => {
  const answer = (updatedAt: string | null): ClusterViewAnswer => ({
    view: { local },
    updatedAt,
    intervalSeconds: 5,
    lastError: null,
    generation: 0,
  });

  it("answers the monitor's view, one query per cache period", async () => {
    let now = Date.parse('2026-12-02T10:00:01.000Z');
    const { client, calls } = fakeClient(() => answer('2026-12-02T10:00:00.000Z'));
    const source = createClusterViewSource({ client, taskQueue: 'q', now: () => now });
    expect(await source()).toEqual({ local });
    now += 1000;
    expect(await source()).toEqual({ local });
    expect(calls.queries).toBe(1);
    now += 1500;
    await source();
    expect(calls.queries).toBe(2);
  });

  it('answers an empty view when the monitor is absent or its view is stale', async () => {
    const absent = fakeClient(() => {
      throw new WorkflowNotFoundError('not found', 'cluster-monitor-q', undefined);
    });
    expect(await createClusterViewSource({ client: absent.client, taskQueue: 'q' })()).toEqual({});
    const now = () => Date.parse('2026-12-02T10:05:00.000Z');
    const stale = fakeClient(() => answer('2026-12-02T10:00:00.000Z'));
    expect(await createClusterViewSource({ client: stale.client, taskQueue: 'q', now })()).toEqual({});
    const never = fakeClient(() => answer(null));
    expect(await createClusterViewSource({ client: never.client, taskQueue: 'q', now })()).toEqual({});
  });

  it('asks again for an absent monitor only after absentCacheMs, and for a slow one after cacheMs', async () => {
    let now = 0;
    const absent = fakeClient(() => {
      throw new WorkflowNotFoundError('not found', 'cluster-monitor-q', undefined);
    });
    const source = createClusterViewSource({ client: absent.client, taskQueue: 'q', now: () => now });
    await source();
    now = 10_000;
    await source();
    expect(absent.calls.queries).toBe(1);
    now = 30_000;
    await source();
    expect(absent.calls.queries).toBe(2);
    const slow = fakeClient(() => {
      throw new Error('deadline exceeded');
    });
    const other = createClusterViewSource({ client: slow.client, taskQueue: 'q', now: () => now });
    await other();
    now += 2000;
    await other();
    expect(slow.calls.queries).toBe(2);
  });
});

describe('cluster gauges', () => {
  it('report health, free and total capacity per resource, evaluations by state, pollers and last seen', async () => {
    const registry = new Registry();
    registerClusterMetrics(registry, () => Promise.resolve({ local, gone }));
    const text = await registry.metrics();
    expect(text).toContain('assay_cluster_healthy{cluster="local"} 1');
    expect(text).toContain('assay_cluster_healthy{cluster="gone"} 0');
    expect(text).toContain('assay_cluster_capacity_free{cluster="local",resource="cpu"} 3.5');
    expect(text).toContain(`assay_cluster_capacity_total{cluster="local",resource="memory_bytes"} ${8 * gi}`);
    expect(text).toContain('assay_cluster_capacity_free{cluster="local",resource="gpu_a100"} 1');
    expect(text).toContain('assay_cluster_evaluations{cluster="local",state="running"} 2');
    expect(text).toContain('assay_cluster_evaluations{cluster="local",state="queued"} 1');
    expect(text).toContain('assay_cluster_worker_pollers{cluster="gone"} 0');
    expect(text).toContain(
      `assay_cluster_last_seen_timestamp_seconds{cluster="local"} ${Date.parse(local.lastSeen!) / 1000}`,
    );
    expect(text).not.toContain('assay_cluster_last_seen_timestamp_seconds{cluster="gone"}');
  });

  it('report nothing when the view cannot be read', async () => {
    const registry = new Registry();
    registerClusterMetrics(registry, () => Promise.reject(new Error('no monitor')));
    expect(await registry.metrics()).not.toMatch(/^assay_cluster_healthy\{/m);
  });
});

describe('assay clusters table', () => {
  it('shows one row per cluster: health, cordon, free/total, gpus, pods, pollers, last seen, reason', () => {
    const table = clustersTable([gone, local], Date.parse('2026-12-02T10:00:03.000Z'));
    const lines = table.split('\n');
    expect(lines[1]).toMatch(
      /name\s+│?\s*healthy.*cordoned.*cpu free\/total.*memory free\/total.*gpus.*running.*queued.*pollers.*last seen.*reason/,
    );
    const row = (name: string) => lines.find((l) => l.includes(` ${name} `)) ?? '';
    expect(row('local')).toMatch(/yes.*no.*3500m\/4.*6Gi\/8Gi.*a100 1\/2.*2.*1.*3.*3s ago.*-/);
    expect(row('gone')).toMatch(/no.*yes.*0\/0.*0\/0.*-.*never.*API server unreachable/);
  });

  it('prints memory and times the way people read them', () => {
    expect(memoryText(0)).toBe('0');
    expect(memoryText(512 * 1024 ** 2)).toBe('512Mi');
    expect(memoryText(15.6 * gi)).toBe('15.6Gi');
    expect(memoryText(1536)).toBe('1.5Ki');
    expect(agoText(null, 0)).toBe('never');
    expect(agoText('2026-12-02T10:00:00.000Z', Date.parse('2026-12-02T10:05:00.000Z'))).toBe('5m ago');
  });
});
