/** Cluster selection (issue 18, "Selection"; docs/multi-cluster.md): filters, limits, scores, order. */
import { describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { chooseCluster, createClusterActivities } from '../../src/activities/cluster.js';
import { addPending, PendingPlacements, type PendingUse } from '../../src/placement/pending.js';
import { resourceRequestOf } from '../../src/placement/request.js';
import { place, type PlacementRequest } from '../../src/placement/select.js';
import type { ClusterHealth, ClusterView, ResourceRequest } from '../../src/placement/types.js';
import { costConfigSchema } from '../../src/spec/pricing-config.js';
import { clusterRegistrySchema, workerConfigSchema } from '../../src/spec/worker-config.js';

const GiB = 2 ** 30;
const probedAt = '2026-12-02T10:00:00.000Z';

interface HealthOptions {
  cpu?: [number, number];
  memory?: [number, number];
  gpus?: Record<string, [number, number]>;
  running?: number;
  queued?: number;
  healthy?: boolean;
  reason?: string;
  cordoned?: boolean;
  probedAt?: string;
}

/** A probe's entry: 64 CPU and 256Gi free by default, nothing running. */
function health(name: string, o: HealthOptions = {}): ClusterHealth {
  const capacity = ([free, total]: [number, number]) => ({ free, total });
  return {
    name,
    healthy: o.healthy ?? true,
    reason: o.reason ?? null,
    cordoned: o.cordoned ?? false,
    capacity: {
      cpuMillis: capacity(o.cpu ?? [64_000, 64_000]),
      memoryBytes: capacity(o.memory ?? [256 * GiB, 256 * GiB]),
      gpus: Object.fromEntries(Object.entries(o.gpus ?? {}).map(([type, c]) => [type, capacity(c)])),
    },
    running: o.running ?? 0,
    queued: o.queued ?? 0,
    workerPollers: 1,
    lastSeen: o.probedAt ?? probedAt,
    probedAt: o.probedAt ?? probedAt,
  };
}

const viewOf = (...entries: ClusterHealth[]): ClusterView =>
  Object.fromEntries(entries.map((e) => [e.name, e]));
const registryOf = (...entries: object[]) => clusterRegistrySchema.parse(entries);
const any: PlacementRequest = { name: null, selector: {}, gpuType: null };
const oneCpu: ResourceRequest = { cpuMillis: 1000, memoryBytes: GiB, gpus: null };
const names = (r: { candidates: { name: string }[] }): string[] => r.candidates.map((c) => c.name);

describe('placement filters', () => {
  it('leaves every cluster that does not fit out, each with its reason, in registry order', () => {
    const fits = {
      labels: { tier: 'gold' },
      gpuTypes: ['a100'],
      security: { runtimeClasses: { gvisor: 'gvisor' } },
    };
    const registry = registryOf(
      { ...fits, name: 'engine', executor: 'docker', docker: { socket: '/run/d.sock' } },
      { ...fits, name: 'cordoned', cordoned: true },
      { ...fits, name: 'cordoned-live' },
      { ...fits, name: 'silver', labels: { tier: 'silver' } },
      { ...fits, name: 'cpu-only', gpuTypes: [] },
      { ...fits, name: 'plain', security: {} },
      { ...fits, name: 'small-cpu', limits: { maxResourcesPerEvaluation: { cpu: '2' } } },
      { ...fits, name: 'small-memory', limits: { maxResourcesPerEvaluation: { memory: '4Gi' } } },
      { ...fits, name: 'no-gpus', limits: { maxResourcesPerEvaluation: { gpus: 0 } } },
      { ...fits, name: 'sick' },
      { ...fits, name: 'full', limits: { maxConcurrentEvaluations: 3 } },
      { ...fits, name: 'tiny' },
      { ...fits, name: 'ok' },
    );
    const gpus = { a100: [4, 4] as [number, number] };
    const view = viewOf(
      health('cordoned-live', { cordoned: true, gpus }),
      health('sick', {
        healthy: false,
        reason: 'API server unreachable: connect ECONNREFUSED 10.0.0.1:6443',
        gpus,
      }),
      health('full', { running: 2, queued: 1, gpus }),
      health('tiny', { cpu: [2000, 2000], gpus }),
      health('ok', { gpus }),
    );
    const request: PlacementRequest = {
      name: null,
      selector: { tier: 'gold' },
      gpuType: 'a100',
      isolation: { image: 'python:3.12', egress: null, seccomp: null, runtime: 'gvisor' },
      resources: { cpuMillis: 4000, memoryBytes: 8 * GiB, gpus: { count: 1, type: 'a100' } },
    };
    const result = place(registry, request, view, {
      executor: { executor: 'kubernetes', why: 'the default executor' },
    });
    expect(names(result)).toEqual(['ok']);
    expect(result.isolation.ok).toMatchObject({ runtime: 'gvisor', runtimeClassName: 'gvisor' });
    expect(result.excluded).toEqual([
      { name: 'engine', reason: 'executor docker, and the default executor says kubernetes' },
      { name: 'cordoned', reason: 'cordoned' },
      { name: 'cordoned-live', reason: 'cordoned' },
      { name: 'silver', reason: 'labels do not match the selector (tier: wants gold, has silver)' },
      { name: 'cpu-only', reason: 'no a100 GPUs' },
      { name: 'plain', reason: expect.stringContaining('no gvisor runtime') as unknown as string },
      {
        name: 'small-cpu',
        reason:
          'needs 4 CPU, more than the 2 CPU per evaluation it takes (limits.maxResourcesPerEvaluation.cpu)',
      },
      {
        name: 'small-memory',
        reason:
          'needs 8Gi memory, more than the 4Gi memory per evaluation it takes (limits.maxResourcesPerEvaluation.memory)',
      },
      {
        name: 'no-gpus',
        reason:
          'needs 1 a100 GPU, more than the 0 a100 GPUs per evaluation it takes (limits.maxResourcesPerEvaluation.gpus)',
      },
      // What the view says is transient: the cluster may fit after the next probe.
      {
        name: 'sick',
        reason: 'unhealthy: API server unreachable: connect ECONNREFUSED 10.0.0.1:6443',
        transient: true,
      },
      {
        name: 'full',
        reason: 'at its limit of 3 concurrent evaluations (2 running, 1 queued, 0 just placed)',
        transient: true,
      },
      { name: 'tiny', reason: 'needs 4 CPU, more than the 2 CPU it has in all', transient: true },
    ]);
  });

  it('a cluster asked for by name is the only candidate', () => {
    const registry = registryOf({ name: 'a' }, { name: 'b' });
    const result = place(registry, { ...any, name: 'b' }, null);
    expect(names(result)).toEqual(['b']);
    expect(result.excluded).toEqual([{ name: 'a', reason: 'not the requested cluster' }]);
  });

  it('counts this worker’s placements the view does not show yet against the concurrency limit', () => {
    const registry = registryOf({ name: 'a', limits: { maxConcurrentEvaluations: 2 } }, { name: 'b' });
    const view = viewOf(health('a', { running: 1 }), health('b', { running: 5 }));
    expect(names(place(registry, any, view))).toEqual(['a', 'b']);
    const pending: Record<string, PendingUse> = {};
    addPending(pending, 'a', oneCpu);
    const result = place(registry, any, view, { pending });
    expect(names(result)).toEqual(['b']);
    expect(result.excluded).toEqual([
      {
        name: 'a',
        reason: 'at its limit of 2 concurrent evaluations (1 running, 0 queued, 1 just placed)',
        transient: true,
      },
    ]);
  });

  it('limits that need the request or the view are not checked without them', () => {
    const registry = registryOf({
      name: 'a',
      limits: { maxConcurrentEvaluations: 1, maxResourcesPerEvaluation: { cpu: '1' } },
    });
    // No resources in the request (a workflow from before selection knew them), no view: nothing to check.
    expect(names(place(registry, any, null))).toEqual(['a']);
    const huge = { ...any, resources: { ...oneCpu, cpuMillis: 8000 } };
    expect(place(registry, huge, null).excluded[0]?.reason).toMatch(/^needs 8 CPU, more than the 1 CPU per/);
  });
});

describe('placement scores', () => {
  const two = registryOf({ name: 'a' }, { name: 'b' });
  const request = { ...any, resources: { cpuMillis: 4000, memoryBytes: 4 * GiB, gpus: null } };

  it('prefers the cluster with more of the scarcest requested resource left after placement', () => {
    const view = viewOf(health('a', { cpu: [8000, 64_000] }), health('b', { cpu: [48_000, 64_000] }));
    const result = place(two, request, view);
    expect(names(result)).toEqual(['b', 'a']);
    expect(result.candidates[0]?.terms.headroom).toBeCloseTo(0.4 * (44 / 64), 3);
    expect(result.candidates[1]?.terms.headroom).toBeCloseTo(0.4 * (4 / 64), 3);
    // Plenty of CPU does not help a cluster short of memory.
    const short = viewOf(
      health('a', { memory: [5 * GiB, 256 * GiB] }),
      health('b', { cpu: [32_000, 64_000] }),
    );
    expect(names(place(two, request, short))).toEqual(['b', 'a']);
  });

  it('prefers the cheaper cluster when all else is equal', () => {
    const cost = costConfigSchema.parse({ clusters: { a: { cpuCoreHour: 0.05 }, b: { cpuCoreHour: 0.02 } } });
    const view = viewOf(health('a'), health('b'));
    const result = place(two, request, view, { cost });
    expect(names(result)).toEqual(['b', 'a']);
    expect(result.candidates[0]?.terms.price).toBe(0.2);
    expect(result.candidates[1]?.terms.price).toBeLessThan(0.2);
    // Without prices the term is neutral: registry order.
    expect(names(place(two, request, view))).toEqual(['a', 'b']);
  });

  it('prefers the cluster with fewer evaluations running and queued', () => {
    const view = viewOf(health('a', { running: 8, queued: 2 }), health('b', { running: 2 }));
    const result = place(two, request, view);
    expect(names(result)).toEqual(['b', 'a']);
    expect(result.candidates[0]?.terms.spread).toBe(0.4);
    expect(result.candidates[1]?.terms.spread).toBeCloseTo((0.4 * 3) / 11, 3);
  });

  it('a heavier cluster takes more load before it loses on spread; weight 0 is a fallback', () => {
    const weighted = registryOf({ name: 'a' }, { name: 'b', weight: 3 });
    const view = viewOf(health('a', { running: 2 }), health('b', { running: 5 }));
    // Per unit of weight after placement: a (2+1)/1 = 3, b (5+1)/3 = 2.
    expect(names(place(weighted, request, view))).toEqual(['b', 'a']);
    const fallback = registryOf({ name: 'spare', weight: 0 }, { name: 'main' });
    const busy = viewOf(health('spare'), health('main', { running: 40, cpu: [6000, 64_000] }));
    const result = place(fallback, request, busy);
    expect(names(result)).toEqual(['main', 'spare']);
    expect(result.candidates[1]!.score).toBeGreaterThan(result.candidates[0]!.score);
    const cordoned = registryOf({ name: 'spare', weight: 0 }, { name: 'main', cordoned: true });
    expect(
      chooseCluster(cordoned, { ...request, team: 'ml' }, 'assay', undefined, { view: busy }),
    ).toMatchObject({
      name: 'spare',
      reason: 'the only cluster that fits (main: cordoned)',
    });
  });

  it('breaks ties by registry order', () => {
    const view = viewOf(health('a'), health('b'), health('c'));
    expect(names(place(registryOf({ name: 'a' }, { name: 'b' }, { name: 'c' }), request, view))).toEqual([
      'a',
      'b',
      'c',
    ]);
    expect(names(place(registryOf({ name: 'c' }, { name: 'a' }, { name: 'b' }), request, view))).toEqual([
      'c',
      'a',
      'b',
    ]);
  });

  it('without a view keeps registry order, whatever the prices and requests', () => {
    const registry = registryOf({ name: 'a' }, { name: 'b' }, { name: 'c' });
    const cost = costConfigSchema.parse({ clusters: { c: { cpuCoreHour: 0.001 } } });
    const result = place(registry, request, undefined, { cost });
    expect(result.scored).toBe(false);
    expect(names(result)).toEqual(['a', 'b', 'c']);
    expect(new Set(result.candidates.map((c) => c.score))).toEqual(new Set([1]));
    // A monitor that has not probed yet answers an empty view: the same.
    expect(place(registry, request, {}, { cost })).toEqual(result);
  });

  it('a cluster the view has no entry for is healthy with neutral headroom and spread', () => {
    const registry = registryOf({ name: 'new' }, { name: 'a' }, { name: 'b' });
    const view = viewOf(
      health('a', { cpu: [64_000, 64_000] }),
      health('b', { cpu: [16_000, 64_000], running: 3 }),
    );
    const result = place(registry, request, view);
    expect(names(result)).toEqual(['a', 'new', 'b']);
    const [a, unknown, b] = result.candidates;
    expect(unknown!.terms.headroom).toBeCloseTo((a!.terms.headroom! + b!.terms.headroom!) / 2, 2);
    expect(unknown!.terms.spread).toBeCloseTo((a!.terms.spread! + b!.terms.spread!) / 2, 2);
  });

  it('is deterministic and leaves its inputs alone', () => {
    const freeze = <T>(value: T): T => {
      if (typeof value === 'object' && value !== null) {
        Object.values(value).forEach(freeze);
        Object.freeze(value);
      }
      return value;
    };
    const registry = freeze(registryOf({ name: 'a' }, { name: 'b', weight: 2 }, { name: 'c' }));
    const view = freeze(
      viewOf(health('a', { running: 3 }), health('b', { cpu: [9000, 64_000] }), health('c')),
    );
    const cost = freeze(costConfigSchema.parse({ clusters: { b: { memoryGiBHour: 0.001 } } }));
    const pending = freeze({ c: { evaluations: 2, cpuMillis: 2000, memoryBytes: 0, gpus: {} } });
    const runs = Array.from({ length: 5 }, () => place(registry, request, view, { cost, pending }));
    for (const run of runs) expect(run).toEqual(runs[0]);
  });
});

describe('placing many evaluations in a row', () => {
  /** Places `n` one after another, each counted as pending for the next (no probe in between). */
  function spread(registry: ReturnType<typeof registryOf>, view: ClusterView, n: number): string[] {
    const pending: Record<string, PendingUse> = {};
    const order: string[] = [];
    for (let i = 0; i < n; i++) {
      const best = place(registry, { ...any, resources: oneCpu }, view, { pending }).candidates[0]!.name;
      addPending(pending, best, oneCpu);
      order.push(best);
    }
    return order;
  }
  const count = (order: string[], name: string): number => order.filter((n) => n === name).length;
  // Two healthy, equal clusters of 100 nodes × 16 CPU.
  const view = viewOf(
    health('a', { cpu: [1_600_000, 1_600_000], memory: [6400 * GiB, 6400 * GiB] }),
    health('b', { cpu: [1_600_000, 1_600_000], memory: [6400 * GiB, 6400 * GiB] }),
  );

  it('spreads 40 evaluations evenly over two equal clusters', () => {
    const order = spread(registryOf({ name: 'a' }, { name: 'b' }), view, 40);
    expect(count(order, 'a')).toBeGreaterThanOrEqual(18);
    expect(count(order, 'a')).toBeLessThanOrEqual(22);
    expect(spread(registryOf({ name: 'a' }, { name: 'b' }), view, 40)).toEqual(order);
  });

  it('spreads them 3:1 by weight', () => {
    const order = spread(registryOf({ name: 'a', weight: 3 }, { name: 'b' }), view, 40);
    expect(count(order, 'a')).toBeGreaterThanOrEqual(27);
    expect(count(order, 'a')).toBeLessThanOrEqual(33);
  });
});

describe('a Docker engine in the view', () => {
  it('is chosen by its health alone: the probe measures no capacity of it (0 of everything)', () => {
    const registry = registryOf({ name: 'engine', executor: 'docker', docker: { socket: '/run/d.sock' } });
    const req = { team: 'ml', name: null, selector: {}, gpuType: null, resources: oneCpu };
    const view = viewOf(health('engine', { cpu: [0, 0], memory: [0, 0] }));
    const executors = { default: 'docker' as const, teams: {}, users: {} };
    expect(chooseCluster(registry, req, 'assay', executors, { view }).name).toBe('engine');
    const sick = viewOf(
      health('engine', { cpu: [0, 0], memory: [0, 0], healthy: false, reason: 'no worker' }),
    );
    expect(() => chooseCluster(registry, req, 'assay', executors, { view: sick })).toThrow(
      /no cluster can take the evaluation now; waiting \(engine: unhealthy: no worker\)/,
    );
  });
});

describe('chooseCluster with a view', () => {
  const registry = registryOf({ name: 'local' }, { name: 'b' }, { name: 'c', cordoned: true });
  const req = { team: 'ml', name: null, selector: {}, gpuType: null, resources: oneCpu };

  it('records candidates, exclusions and why the winner won', () => {
    const view = viewOf(health('local', { running: 19 }), health('b', { cpu: [8000, 64_000] }));
    const choice = chooseCluster(registry, req, 'assay', undefined, { view });
    expect(choice.name).toBe('b');
    expect(choice.candidates?.map((c) => c.name)).toEqual(['b', 'local']);
    expect(choice.excluded).toEqual([{ name: 'c', reason: 'cordoned' }]);
    expect(choice.reason).toMatch(
      /^best score 0\.\d\d of b 0\.\d\d, local 0\.\d\d \(headroom 0\.\d\d, price 0\.20, spread 0\.40\)$/,
    );
  });

  it('a tie says so; without a view the reason is registry order', () => {
    const view = viewOf(health('local'), health('b'));
    expect(chooseCluster(registry, req, 'assay', undefined, { view }).reason).toMatch(
      /; tied with b, first in registry order$/,
    );
    expect(chooseCluster(registry, req).reason).toBe(
      'first of local, b in registry order (no probe view yet)',
    );
  });

  const thrown = (f: () => unknown): unknown => {
    try {
      f();
    } catch (err) {
      return err;
    }
    return undefined;
  };

  it('clusters that fit the requirements but not in their state: NoClusterReady, retryable, naming each reason', () => {
    const view = viewOf(
      health('local', { healthy: false, reason: 'worker not polling' }),
      health('b', { cpu: [0, 500] }),
    );
    const error = thrown(() => chooseCluster(registry, req, 'assay', undefined, { view }));
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'NoClusterReady', nonRetryable: false });
    expect((error as Error).message).toBe(
      'no cluster can take the evaluation now; waiting (local: unhealthy: worker not polling; b: needs 1 CPU, more than the 500m CPU it has in all; c: cordoned)',
    );
  });

  it('no cluster meets the requirements: NoClusterAvailable, not retryable, names every cluster and its reason', () => {
    const view = viewOf(health('local'), health('b'));
    const error = thrown(() =>
      chooseCluster(registry, { ...req, selector: { region: 'mars' } }, 'assay', undefined, { view }),
    );
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'NoClusterAvailable', nonRetryable: true });
    expect((error as Error).message).toMatch(
      /^no cluster satisfies the requirements \(local: labels do not match the selector \(region: wants mars, has [^)]*\); b: labels do not match the selector/,
    );
  });

  it('the activity counts its own placements until a probe shows them', async () => {
    let view = viewOf(health('local'), health('b'));
    let now = Date.parse(probedAt);
    const activities = createClusterActivities({ registry, view: () => view, now: () => now });
    const first = await activities.selectCluster(req);
    const second = await activities.selectCluster(req);
    expect([first.name, second.name]).toEqual(['local', 'b']);
    // A probe 60 s later shows both as running: they are no longer counted twice.
    now += 60_000;
    const later = new Date(now).toISOString();
    view = viewOf(
      health('local', { running: 1, probedAt: later }),
      health('b', { running: 1, probedAt: later }),
    );
    expect((await activities.selectCluster(req)).name).toBe('local');
  });
});

describe('pending placements', () => {
  it('are kept until a probe settleMs after them, and at most maxAgeMs', () => {
    const placed = new PendingPlacements({ settleMs: 30_000, maxAgeMs: 600_000 });
    const t0 = Date.parse(probedAt);
    placed.add('a', { cpuMillis: 500, memoryBytes: GiB, gpus: { count: 1, type: null } }, t0);
    placed.add('a', oneCpu, t0 + 1000);
    const at = (ms: number) => viewOf(health('a', { probedAt: new Date(t0 + ms).toISOString() }));
    expect(placed.pending(at(10_000), t0 + 10_000)).toEqual({
      a: { evaluations: 2, cpuMillis: 1500, memoryBytes: 2 * GiB, gpus: { '*': 1 } },
    });
    expect(placed.pending(at(30_000), t0 + 30_000).a?.evaluations).toBe(1);
    expect(placed.pending(at(31_000), t0 + 31_000)).toEqual({});
    placed.add('gone', null, t0);
    expect(placed.pending(at(0), t0 + 600_000).gone?.evaluations).toBe(1);
    expect(placed.pending(at(0), t0 + 600_001)).toEqual({});
  });
});

describe('resourceRequestOf', () => {
  it('reads the requests of normalised resources', () => {
    expect(
      resourceRequestOf({ requests: { cpu: '500m', memory: '1Gi' }, gpu: { count: 2, type: 'a100' } }),
    ).toEqual({ cpuMillis: 500, memoryBytes: GiB, gpus: { count: 2, type: 'a100' } });
    expect(resourceRequestOf({ requests: { cpu: '2', memory: '512Mi' }, gpu: null }).gpus).toBeNull();
  });
});

describe('the registry fields', () => {
  const base = { temporal: {}, clusters: [{ name: 'local' }] };
  const issues = (clusters: object[]): string[] => {
    const r = workerConfigSchema.safeParse({ ...base, clusters });
    return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
  };

  it('default to weight 1 and no limits; quantities parse to millicores and bytes', () => {
    const [entry] = workerConfigSchema.parse(base).clusters;
    expect(entry).toMatchObject({
      weight: 1,
      limits: { maxConcurrentEvaluations: null, maxResourcesPerEvaluation: null },
    });
    const limits = {
      maxConcurrentEvaluations: 20,
      maxResourcesPerEvaluation: { cpu: '1500m', memory: '2Gi' },
    };
    const [limited] = workerConfigSchema.parse({
      ...base,
      clusters: [{ name: 'b', weight: 0, limits }],
    }).clusters;
    expect(limited).toMatchObject({
      weight: 0,
      limits: {
        maxConcurrentEvaluations: 20,
        maxResourcesPerEvaluation: { cpu: 1500, memory: 2 * GiB, gpus: null },
      },
    });
  });

  it('name the field and the reason when wrong', () => {
    expect(issues([{ name: 'a', weight: -1 }])).toEqual([
      'clusters.0.weight: must be 0 or more (0: only when no other cluster fits)',
    ]);
    expect(issues([{ name: 'a', weight: 'heavy' }])).toEqual(['clusters.0.weight: must be a number']);
    expect(issues([{ name: 'a', limits: { maxConcurrentEvaluations: 0 } }])).toEqual([
      'clusters.0.limits.maxConcurrentEvaluations: must be at least 1 (to take no evaluations, cordon the cluster)',
    ]);
    expect(issues([{ name: 'a', limits: { maxConcurrentEvaluations: 2.5 } }])).toEqual([
      'clusters.0.limits.maxConcurrentEvaluations: must be a whole number',
    ]);
    expect(issues([{ name: 'a', limits: { maxResourcesPerEvaluation: { cpu: 'lots' } } }])).toEqual([
      'clusters.0.limits.maxResourcesPerEvaluation.cpu: "lots" is not a Kubernetes quantity',
    ]);
    expect(issues([{ name: 'a', limits: { maxResourcesPerEvaluation: { memory: '0' } } }])).toEqual([
      'clusters.0.limits.maxResourcesPerEvaluation.memory: must be more than 0',
    ]);
    expect(issues([{ name: 'a', limits: { maxResourcesPerEvaluation: { gpus: -1 } } }])).toEqual([
      'clusters.0.limits.maxResourcesPerEvaluation.gpus: must not be negative',
    ]);
    expect(issues([{ name: 'a', limits: { maxConcurent: 3 } }])[0]).toMatch(
      /^clusters\.0\.limits: .*maxConcurent/,
    );
  });
});
