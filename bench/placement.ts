/**
 * Benchmark of cluster selection (docs/multi-cluster.md, "Selection"): time per evaluation to filter and score a
 * fleet, against a baseline in the same run. Prints figures; asserts nothing. Needs nothing running:
 *   npx tsx bench/placement.ts [--clusters 20] [--nodes 100] [--placements 10000] [--probe-every 50]
 *
 * The fleet is an in-process simulation, not kwok: `--clusters` clusters of `--nodes` nodes each (16 CPU / 64Gi; every
 * fifth cluster also has GPU nodes), pods bound first-fit to nodes, queued on the cluster when no node fits, and
 * ending after a pseudo-random number of placements, so the fleet sits part-full and shifting. One cluster is
 * cordoned, one unhealthy, one limited; prices and weights differ. Every `--probe-every` placements a "probe" sums the
 * nodes into the view (its cost is printed too, as in-process work: it says nothing of API server load); between
 * probes the placements since are counted as pending, as the worker's activity does.
 *
 * Timed per placement, on the same request and fleet state:
 *   baseline     the filter selection had before scoring: the first cluster in registry order that matches name,
 *                executor, cordon, selector, GPU type and isolation;
 *   place        filter (with limits, health and capacity) + score + order (src/placement/select.ts);
 *   chooseCluster  place plus the choice the activity returns (reason, candidates, exclusions).
 */
import { Command } from 'commander';
import { chooseCluster } from '../src/activities/cluster.js';
import { addPending, type PendingUse } from '../src/placement/pending.js';
import { place, type PlacementRequest } from '../src/placement/select.js';
import type { ClusterHealth, ClusterView, ResourceRequest } from '../src/placement/types.js';
import { resolveIsolation } from '../src/security/resolve.js';
import { costConfigSchema } from '../src/spec/pricing-config.js';
import { clusterRegistrySchema, type ClusterRegistry } from '../src/spec/worker-config.js';

const options = new Command()
  .option('--clusters <n>', 'clusters in the fleet', '20')
  .option('--nodes <n>', 'nodes per cluster', '100')
  .option('--placements <n>', 'placements timed', '10000')
  .option('--warmup <n>', 'placements before timing starts', '2000')
  .option('--probe-every <n>', 'placements between two probes of the view', '50')
  .parse()
  .opts<{ clusters: string; nodes: string; placements: string; warmup: string; probeEvery: string }>();
const clusterCount = Number(options.clusters);
const nodeCount = Number(options.nodes);
const placements = Number(options.placements);
const warmup = Number(options.warmup);
const probeEvery = Number(options.probeEvery);

const GiB = 2 ** 30;
const gpuTypes = ['a100', 'h100'];

/** A fixed-seed generator (mulberry32), so every run simulates the same fleet and requests. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}
const rand = random(18);
const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;

interface Node {
  cpu: number;
  memory: number;
  gpuType: string | null;
  gpus: number;
  free: { cpu: number; memory: number; gpus: number };
}
interface Pod {
  cluster: number;
  node: Node | null;
  request: ResourceRequest;
  endsAt: number;
}
interface SimCluster {
  nodes: Node[];
  running: number;
  queue: Pod[];
}

function buildFleet(): { registry: ClusterRegistry; fleet: SimCluster[] } {
  const entries = Array.from({ length: clusterCount }, (_, i) => {
    const gpu = i % 5 === 0 ? gpuTypes[(i / 5) % gpuTypes.length]! : null;
    return {
      name: `c${String(i).padStart(2, '0')}`,
      labels: { region: `r${i % 4}` },
      gpuTypes: gpu === null ? [] : [gpu],
      weight: i % 3 === 0 ? 2 : 1,
      cordoned: i === 7,
      security: { runtimeClasses: i % 2 === 0 ? { gvisor: 'gvisor' } : {} },
      ...(i === 3
        ? { limits: { maxConcurrentEvaluations: 50, maxResourcesPerEvaluation: { cpu: '4' } } }
        : {}),
    };
  });
  const registry = clusterRegistrySchema.parse(entries);
  const fleet = registry.map((entry) => ({
    running: 0,
    queue: [],
    nodes: Array.from({ length: nodeCount }, (_, n) => {
      const gpuType = entry.gpuTypes[0] !== undefined && n % 10 === 0 ? entry.gpuTypes[0] : null;
      const node = { cpu: 16_000, memory: 64 * GiB, gpuType, gpus: gpuType === null ? 0 : 8 };
      return { ...node, free: { cpu: node.cpu, memory: node.memory, gpus: node.gpus } };
    }),
  }));
  return { registry, fleet };
}

const cost = costConfigSchema.parse({
  clusters: Object.fromEntries(
    Array.from({ length: clusterCount }, (_, i) => [
      `c${String(i).padStart(2, '0')}`,
      { cpuCoreHour: 0.02 + (i % 7) * 0.004, gpuHour: { a100: 2.5 + (i % 3) * 0.3, h100: 4 } },
    ]),
  ),
});

/** One evaluation: mostly small, some medium, a tenth on GPUs; a fifth name a region, a third ask for gVisor. */
function nextRequest(): { placement: PlacementRequest; resources: ResourceRequest } {
  const kind = rand();
  const resources: ResourceRequest =
    kind < 0.7
      ? { cpuMillis: pick([500, 1000, 2000]), memoryBytes: pick([1, 2, 4]) * GiB, gpus: null }
      : kind < 0.9
        ? { cpuMillis: pick([4000, 8000]), memoryBytes: pick([16, 32]) * GiB, gpus: null }
        : { cpuMillis: 4000, memoryBytes: 32 * GiB, gpus: { count: pick([1, 2]), type: pick(gpuTypes) } };
  const placement: PlacementRequest = {
    name: null,
    selector: rand() < 0.2 ? { region: `r${Math.floor(rand() * 4)}` } : {},
    gpuType: resources.gpus?.type ?? null,
    isolation: { image: 'python:3.12', egress: null, seccomp: null, runtime: rand() < 0.3 ? 'gvisor' : null },
    resources,
  };
  return { placement, resources };
}

/** The old selection: filter the whole registry, take the first (src/activities/cluster.ts before scoring). */
function firstMatch(registry: ClusterRegistry, req: PlacementRequest): string | null {
  const fits = registry.filter(
    (c) =>
      (req.name === null || c.name === req.name) &&
      c.executor === 'kubernetes' &&
      !c.cordoned &&
      Object.entries(req.selector).every(([k, v]) => c.labels[k] === v) &&
      (req.gpuType === null || c.gpuTypes.includes(req.gpuType)) &&
      (req.isolation === undefined || resolveIsolation(c.security, req.isolation).ok),
  );
  return fits[0]?.name ?? null;
}

function fitsOn(node: Node, r: ResourceRequest): boolean {
  const gpus = r.gpus?.count ?? 0;
  return (
    node.free.cpu >= r.cpuMillis &&
    node.free.memory >= r.memoryBytes &&
    (gpus === 0 || (node.gpuType === r.gpus?.type && node.free.gpus >= gpus))
  );
}

function bind(cluster: SimCluster, pod: Pod): boolean {
  const node = cluster.nodes.find((n) => fitsOn(n, pod.request));
  if (node === undefined) return false;
  node.free.cpu -= pod.request.cpuMillis;
  node.free.memory -= pod.request.memoryBytes;
  node.free.gpus -= pod.request.gpus?.count ?? 0;
  pod.node = node;
  cluster.running++;
  return true;
}

/** A pod ends: it frees its node, or leaves the queue if it never ran (given up on). */
function release(cluster: SimCluster, pod: Pod): void {
  if (pod.node === null) {
    cluster.queue.splice(cluster.queue.indexOf(pod), 1);
    return;
  }
  pod.node.free.cpu += pod.request.cpuMillis;
  pod.node.free.memory += pod.request.memoryBytes;
  pod.node.free.gpus += pod.request.gpus?.count ?? 0;
  cluster.running--;
  while (cluster.queue.length > 0 && bind(cluster, cluster.queue[0]!)) cluster.queue.shift();
}

/** The probe: sums every node of every cluster into the view. */
function probe(registry: ClusterRegistry, fleet: SimCluster[], unhealthy: number): ClusterView {
  const view: Record<string, ClusterHealth> = {};
  registry.forEach((entry, i) => {
    const sim = fleet[i]!;
    const cpu = { free: 0, total: 0 };
    const memory = { free: 0, total: 0 };
    const gpus: Record<string, { free: number; total: number }> = {};
    for (const n of sim.nodes) {
      cpu.free += n.free.cpu;
      cpu.total += n.cpu;
      memory.free += n.free.memory;
      memory.total += n.memory;
      if (n.gpuType !== null) {
        const g = (gpus[n.gpuType] ??= { free: 0, total: 0 });
        g.free += n.free.gpus;
        g.total += n.gpus;
      }
    }
    view[entry.name] = {
      name: entry.name,
      healthy: i !== unhealthy,
      reason: i === unhealthy ? 'API server unreachable (simulated)' : null,
      cordoned: entry.cordoned,
      capacity: { cpuMillis: cpu, memoryBytes: memory, gpus },
      running: sim.running,
      queued: sim.queue.length,
      workerPollers: 1,
      lastSeen: '2026-12-02T00:00:00.000Z',
      probedAt: '2026-12-02T00:00:00.000Z',
    };
  });
  return view;
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

function summary(
  name: string,
  samples: Float64Array,
): { name: string; p50: number; p95: number; line: string } {
  const sorted = Float64Array.from(samples).sort();
  const mean = sorted.reduce((a, b) => a + b, 0) / sorted.length;
  const [p50, p95, p99] = [50, 95, 99].map((p) => percentile(sorted, p)) as [number, number, number];
  const f = (us: number): string => `${us.toFixed(1).padStart(7)} µs`;
  return {
    name,
    p50,
    p95,
    line: `  ${name.padEnd(14)} p50 ${f(p50)}  p95 ${f(p95)}  p99 ${f(p99)}  mean ${f(mean)}`,
  };
}

const micros = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1000;

function main(): void {
  const { registry, fleet } = buildFleet();
  const unhealthy = Math.min(13, clusterCount - 1);
  const ends = new Map<number, Pod[]>();
  const timed = {
    baseline: new Float64Array(placements),
    place: new Float64Array(placements),
    choose: new Float64Array(placements),
  };
  const probeTimes: number[] = [];
  const placedOn = new Map<string, number>();
  let view = probe(registry, fleet, unhealthy);
  let pending: Record<string, PendingUse> = {};
  let none = 0;
  let disagree = 0;

  for (let tick = 0; tick < warmup + placements; tick++) {
    for (const pod of ends.get(tick) ?? []) release(fleet[pod.cluster]!, pod);
    ends.delete(tick);
    if (tick % probeEvery === 0) {
      const start = process.hrtime.bigint();
      view = probe(registry, fleet, unhealthy);
      probeTimes.push(micros(start));
      pending = {};
    }
    const { placement, resources } = nextRequest();

    let start = process.hrtime.bigint();
    const old = firstMatch(registry, placement);
    const baselineUs = micros(start);
    start = process.hrtime.bigint();
    const result = place(registry, placement, view, { cost, pending });
    const placeUs = micros(start);
    start = process.hrtime.bigint();
    let chosen: string | null = null;
    try {
      chosen = chooseCluster(registry, { ...placement, team: 'bench' }, 'assay', undefined, {
        view,
        cost,
        pending,
      }).name;
    } catch {
      chosen = null;
    }
    const chooseUs = micros(start);

    const i = tick - warmup;
    if (i >= 0) {
      timed.baseline[i] = baselineUs;
      timed.place[i] = placeUs;
      timed.choose[i] = chooseUs;
    }
    const best = result.candidates[0]?.name ?? null;
    if (best !== chosen) throw new Error(`place chose ${best}, chooseCluster ${chosen}`);
    if (best === null) {
      none++;
      continue;
    }
    if (best !== old) disagree++;
    const index = registry.findIndex((c) => c.name === best);
    const pod: Pod = {
      cluster: index,
      node: null,
      request: resources,
      endsAt: tick + 200 + Math.floor(rand() * 1800),
    };
    if (!bind(fleet[index]!, pod)) fleet[index]!.queue.push(pod);
    const bucket = ends.get(pod.endsAt) ?? [];
    bucket.push(pod);
    ends.set(pod.endsAt, bucket);
    addPending(pending, best, resources);
    if (i >= 0) placedOn.set(best, (placedOn.get(best) ?? 0) + 1);
  }

  const rows = [
    summary('baseline', timed.baseline),
    summary('place', timed.place),
    summary('chooseCluster', timed.choose),
  ];
  const [base, scored] = rows as [(typeof rows)[number], (typeof rows)[number]];
  const sortedProbe = Float64Array.from(probeTimes).sort();
  const running = fleet.reduce((n, c) => n + c.running, 0);
  const queued = fleet.reduce((n, c) => n + c.queue.length, 0);
  const counts = registry.map(
    (c) => `${c.name}${c.weight !== 1 ? `(w${c.weight})` : ''} ${placedOn.get(c.name) ?? 0}`,
  );
  console.log(
    `simulated fleet: ${clusterCount} clusters × ${nodeCount} nodes (${clusterCount * nodeCount} nodes), ${placements} placements timed after ${warmup} warm-up, probe every ${probeEvery}`,
  );
  for (const row of rows) console.log(row.line);
  console.log(
    `  place / baseline: p50 ${(scored.p50 / base.p50).toFixed(1)}×, p95 ${(scored.p95 / base.p95).toFixed(1)}×`,
  );
  console.log(
    `  probe (sum ${clusterCount * nodeCount} nodes in process): p50 ${percentile(sortedProbe, 50).toFixed(0)} µs over ${probeTimes.length} probes`,
  );
  console.log(
    `  at the end: ${running} pods running, ${queued} queued; ${none} evaluations fitted nowhere; ${disagree} placed elsewhere than the first match`,
  );
  console.log(`  placed per cluster: ${counts.join(', ')}`);
}

main();
