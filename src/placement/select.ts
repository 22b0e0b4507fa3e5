/**
 * Cluster selection (docs/multi-cluster.md, "Selection"): filter the registry by what the evaluation needs and what
 * each cluster takes, score the clusters that are left, and order them best first. Pure and deterministic — no clock,
 * no randomness, ties broken by registry order — because the answer is recorded in workflow history.
 */
import { pricingFor, type CostConfig, type Pricing } from '../spec/pricing-config.js';
import { formatBytes, formatMillicores } from '../spec/quantity.js';
import type { JobSecurity } from '../spec/job-request.js';
import type { ClusterEntry, ClusterRegistry, ExecutorKind } from '../spec/worker-config.js';
import { resolveIsolation, type IsolationRequest } from '../security/resolve.js';
import type { PendingUse } from './pending.js';
import type {
  Candidate,
  Capacity,
  ClusterHealth,
  ClusterView,
  Exclusion,
  Placement,
  ResourceRequest,
} from './types.js';

/** What selection needs to know of one evaluation (`ClusterRequirements` is one). */
export interface PlacementRequest {
  /** A cluster by name, or null for any. */
  name: string | null;
  /** Labels the cluster must carry. */
  selector: Readonly<Record<string, string>>;
  gpuType: string | null;
  isolation?: IsolationRequest;
  /** Absent: per-evaluation limits and capacity are not checked, and the price is a reference evaluation's. */
  resources?: ResourceRequest;
}

export interface PlacementOptions {
  /** The executor the rollout chose for this evaluation, and why; null or absent: any executor. */
  executor?: { executor: ExecutorKind; why: string } | null;
  /** The worker config's `cost:` section; absent: the price term is neutral. */
  cost?: CostConfig;
  /** This worker's placements the view does not show yet, by cluster (`PendingPlacements`). */
  pending?: Readonly<Record<string, PendingUse>>;
}

export interface PlacementResult extends Placement {
  /** The isolation each candidate gives the evaluation (docs/security.md), when the request asks for isolation. */
  isolation: Readonly<Record<string, JobSecurity>>;
  /** False without a view (or one with no entry for any cluster): every term was neutral, registry order. */
  scored: boolean;
}

/** The coefficients of the score's terms. Each term is in [0, 1] and the coefficients sum to 1, so is the score. */
export const scoreCoefficients = { headroom: 0.4, price: 0.2, spread: 0.4 } as const;
type Term = keyof typeof scoreCoefficients;
const termNames = Object.keys(scoreCoefficients) as Term[];

/** When the request says nothing of its resources, prices compare the hourly price of 1 CPU and 1 GiB. */
const referenceRequest: ResourceRequest = { cpuMillis: 1000, memoryBytes: 2 ** 30, gpus: null };

/** One requested resource, against one cluster's capacity of it. */
interface Need {
  amount: number;
  capacity: Capacity;
  /** Taken by this worker's placements the view does not show yet. */
  pending: number;
  /** The amount with its unit: `4 CPU`, `8Gi memory`, `2 a100 GPUs`. */
  show: (amount: number) => string;
}

const showCpu = (millicores: number): string => `${formatMillicores(millicores)} CPU`;
const showMemory = (bytes: number): string => `${formatBytes(bytes, true)} memory`;
const showGpus =
  (type: string | null) =>
  (count: number): string =>
    `${count} ${type === null ? '' : `${type} `}GPU${count === 1 ? '' : 's'}`;

function gpuCapacity(health: ClusterHealth, type: string | null): Capacity {
  if (type !== null) return health.capacity.gpus[type] ?? { free: 0, total: 0 };
  const all = Object.values(health.capacity.gpus);
  return { free: all.reduce((n, c) => n + c.free, 0), total: all.reduce((n, c) => n + c.total, 0) };
}

function pendingGpus(pending: PendingUse | undefined, type: string | null): number {
  if (pending === undefined) return 0;
  if (type !== null) return pending.gpus[type] ?? 0;
  return Object.values(pending.gpus).reduce((n, g) => n + g, 0);
}

/** The resources a request asks for (CPU and memory both when it asks for nothing), against `health`'s capacity. */
function needsOf(
  request: ResourceRequest | null | undefined,
  health: ClusterHealth,
  pending: PendingUse | undefined,
): Need[] {
  const cpu = request?.cpuMillis ?? 0;
  const memory = request?.memoryBytes ?? 0;
  const gpus = request?.gpus ?? null;
  const nothing = cpu === 0 && memory === 0 && (gpus?.count ?? 0) === 0;
  const needs: Need[] = [];
  if (cpu > 0 || nothing) {
    const capacity = health.capacity.cpuMillis;
    needs.push({ amount: cpu, capacity, pending: pending?.cpuMillis ?? 0, show: showCpu });
  }
  if (memory > 0 || nothing) {
    const capacity = health.capacity.memoryBytes;
    needs.push({ amount: memory, capacity, pending: pending?.memoryBytes ?? 0, show: showMemory });
  }
  if (gpus !== null && gpus.count > 0) {
    needs.push({
      amount: gpus.count,
      capacity: gpuCapacity(health, gpus.type),
      pending: pendingGpus(pending, gpus.type),
      show: showGpus(gpus.type),
    });
  }
  return needs;
}

/** Why one evaluation is too large for the cluster's `limits.maxResourcesPerEvaluation`, or null. */
function overEvaluationLimit(
  cluster: ClusterEntry,
  request: ResourceRequest | null | undefined,
): string | null {
  const max = cluster.limits.maxResourcesPerEvaluation;
  if (max === null || request === null || request === undefined) return null;
  const asked: [string, number, number | null, (n: number) => string][] = [
    ['cpu', request.cpuMillis, max.cpu, showCpu],
    ['memory', request.memoryBytes, max.memory, showMemory],
    ['gpus', request.gpus?.count ?? 0, max.gpus, showGpus(request.gpus?.type ?? null)],
  ];
  for (const [field, amount, limit, show] of asked) {
    if (limit !== null && amount > limit) {
      return `needs ${show(amount)}, more than the ${show(limit)} per evaluation it takes (limits.maxResourcesPerEvaluation.${field})`;
    }
  }
  return null;
}

/** Why the cluster, as the view sees it, cannot take the evaluation now (unhealthy, at its limit, too small), or null. */
function viewMisfit(
  cluster: ClusterEntry,
  request: ResourceRequest | null | undefined,
  health: ClusterHealth,
  pending: PendingUse | undefined,
): string | null {
  if (!health.healthy) return `unhealthy: ${health.reason ?? 'no reason given'}`;
  const max = cluster.limits.maxConcurrentEvaluations;
  const placed = pending?.evaluations ?? 0;
  if (max !== null && health.running + health.queued + placed >= max) {
    return `at its limit of ${max} concurrent evaluations (${health.running} running, ${health.queued} queued, ${placed} just placed)`;
  }
  // The probe measures no capacity of a Docker engine (it shows 0 of everything): only its health counts.
  if (request === null || request === undefined || cluster.executor === 'docker') return null;
  const tooLarge = needsOf(request, health, pending).find((n) => n.amount > n.capacity.total);
  return tooLarge === undefined
    ? null
    : `needs ${tooLarge.show(tooLarge.amount)}, more than the ${tooLarge.show(tooLarge.capacity.total)} it has in all`;
}

/** Why the cluster is left out whatever its state (the evaluation's requirements, the registry), or null. */
function misfit(
  cluster: ClusterEntry,
  request: PlacementRequest,
  options: PlacementOptions,
  health: ClusterHealth | undefined,
): string | null {
  const executor = options.executor ?? null;
  if (request.name !== null && cluster.name !== request.name) return 'not the requested cluster';
  if (executor !== null && cluster.executor !== executor.executor) {
    return `executor ${cluster.executor}, and ${executor.why} says ${executor.executor}`;
  }
  if (cluster.cordoned || health?.cordoned === true) return 'cordoned';
  const label = Object.entries(request.selector).find(([key, value]) => cluster.labels[key] !== value);
  if (label !== undefined) {
    const [key, value] = label;
    return `labels do not match the selector (${key}: wants ${value}, has ${cluster.labels[key] ?? 'none'})`;
  }
  if (request.gpuType !== null && !cluster.gpuTypes.includes(request.gpuType))
    return `no ${request.gpuType} GPUs`;
  return overEvaluationLimit(cluster, request.resources);
}

/** The isolation the cluster gives the request, or why it cannot; null when the request asks for none. */
function isolationOn(
  cluster: ClusterEntry,
  request: PlacementRequest,
): { ok: true; security: JobSecurity | null } | { ok: false; reason: string } {
  if (request.isolation === undefined) return { ok: true, security: null };
  const resolved = resolveIsolation(cluster.security, request.isolation);
  if (!resolved.ok) return resolved;
  // The runtime `default` is the cluster's own runtimeClassName, if it names one.
  const runtimeClassName = resolved.security.runtimeClassName ?? cluster.runtimeClassName;
  return { ok: true, security: { ...resolved.security, runtimeClassName } };
}

/** The fraction of the scarcest requested resource left free after this evaluation, in [0, 1]; null if unknown. */
function headroomOf(
  request: ResourceRequest | null | undefined,
  health: ClusterHealth | undefined,
  pending: PendingUse | undefined,
): number | null {
  if (health === undefined) return null;
  const fractions = needsOf(request, health, pending)
    .filter((n) => n.capacity.total > 0)
    .map((n) => (n.capacity.free - n.pending - n.amount) / n.capacity.total);
  return fractions.length === 0 ? null : Math.min(1, Math.max(0, Math.min(...fractions)));
}

function gpuHourOf(pricing: Pricing, type: string | null): number | null {
  return pricing.gpuHour[type ?? '*'] ?? pricing.gpuHour['*'] ?? null;
}

/**
 * The hourly on-demand price of the request on each cluster. A GPU type that any of them has no price for is left out
 * of every price, so that a missing price never makes a cluster look cheap.
 */
function hourlyPrices(cost: CostConfig, names: readonly string[], request: ResourceRequest): number[] {
  const pricings = names.map((name) => pricingFor(cost, name));
  const gpus = request.gpus;
  const gpuPriced =
    gpus !== null && gpus.count > 0 && pricings.every((p) => gpuHourOf(p, gpus.type) !== null);
  return pricings.map(
    (p) =>
      (request.cpuMillis / 1000) * p.cpuCoreHour +
      (request.memoryBytes / 2 ** 30) * p.memoryGiBHour +
      (gpuPriced && gpus !== null ? gpus.count * (gpuHourOf(p, gpus.type) ?? 0) : 0),
  );
}

/** Unknown values (null) take the mean of the known ones — neutral — or 1 when none is known. */
function withNeutral(values: readonly (number | null)[]): number[] {
  const known = values.filter((v): v is number => v !== null);
  const neutral = known.length === 0 ? 1 : known.reduce((a, b) => a + b, 0) / known.length;
  return values.map((v) => v ?? neutral);
}

const round3 = (value: number): number => Math.round(value * 1000) / 1000;

interface Fitting {
  cluster: ClusterEntry;
  index: number;
  health: ClusterHealth | undefined;
}

/** Each fitting cluster's raw terms, each in [0, 1] (higher is better), neutral where unknown. */
function rawTerms(
  fitting: readonly Fitting[],
  request: PlacementRequest,
  options: PlacementOptions,
): Record<Term, number[]> {
  const pending = (f: Fitting): PendingUse | undefined => options.pending?.[f.cluster.name];
  const headroom = fitting.map((f) => headroomOf(request.resources, f.health, pending(f)));

  const prices =
    options.cost === undefined
      ? null
      : hourlyPrices(
          options.cost,
          fitting.map((f) => f.cluster.name),
          request.resources ?? referenceRequest,
        );
  const cheapest = prices === null ? 0 : Math.min(...prices);
  const price = fitting.map((_, i) => {
    const p = prices?.[i];
    return p === undefined ? null : p === 0 ? 1 : cheapest / p;
  });

  // Spread: evaluations on the cluster after this one, per unit of weight; the least loaded gets 1. Weight-0
  // clusters are ranked after all others anyway, and spread among themselves as if of weight 1.
  const load = fitting.map((f) =>
    f.health === undefined
      ? null
      : (f.health.running + f.health.queued + (pending(f)?.evaluations ?? 0) + 1) / (f.cluster.weight || 1),
  );
  const fallback = fitting.map((f) => f.cluster.weight === 0);
  const leastIn = (group: boolean): number =>
    Math.min(...load.filter((l, i): l is number => l !== null && fallback[i] === group));
  const least = [leastIn(false), leastIn(true)];
  const spread = load.map((l, i) => (l === null ? null : least[Number(fallback[i])]! / l));

  return { headroom: withNeutral(headroom), price: withNeutral(price), spread: withNeutral(spread) };
}

/**
 * Filters the registry for one evaluation and orders the clusters that fit, best first.
 *
 * Without a view, or with one that has no entry for any cluster (no probe yet), every term is neutral and the order is
 * the registry's, as it was before scoring. Otherwise a cluster the view has no entry for counts as healthy with
 * unknown capacity and load: its headroom and spread take the other candidates' mean. Weight-0 clusters come after
 * every cluster of positive weight.
 */
export function place(
  registry: ClusterRegistry,
  request: PlacementRequest,
  view: ClusterView | null | undefined,
  options: PlacementOptions = {},
): PlacementResult {
  const excluded: Exclusion[] = [];
  const fitting: Fitting[] = [];
  const isolation: Record<string, JobSecurity> = {};
  registry.forEach((cluster, index) => {
    const health = view?.[cluster.name];
    let reason = misfit(cluster, request, options, health);
    let security: JobSecurity | null = null;
    if (reason === null) {
      const resolved = isolationOn(cluster, request);
      if (!resolved.ok) reason = resolved.reason;
      else security = resolved.security;
    }
    if (reason !== null) {
      excluded.push({ name: cluster.name, reason });
      return;
    }
    // What the view says (health, load, size) may change by the next probe: such an exclusion is transient.
    const state =
      health === undefined
        ? null
        : viewMisfit(cluster, request.resources, health, options.pending?.[cluster.name]);
    if (state !== null) {
      excluded.push({ name: cluster.name, reason: state, transient: true });
      return;
    }
    if (security !== null) isolation[cluster.name] = security;
    fitting.push({ cluster, index, health });
  });

  // A view with no entry for any cluster (a monitor that has not probed yet) says nothing either.
  const scored = registry.some((c) => view?.[c.name] !== undefined);
  const raw = scored
    ? rawTerms(fitting, request, options)
    : { headroom: fitting.map(() => 1), price: fitting.map(() => 1), spread: fitting.map(() => 1) };
  const ranked = fitting.map((f, i) => {
    const terms = Object.fromEntries(termNames.map((t) => [t, scoreCoefficients[t] * raw[t][i]!])) as Record<
      Term,
      number
    >;
    const score = termNames.reduce((sum, t) => sum + terms[t], 0);
    return { f, terms, score, fallback: f.cluster.weight === 0 ? 1 : 0 };
  });
  ranked.sort((a, b) => a.fallback - b.fallback || b.score - a.score || a.f.index - b.f.index);

  const candidates: Candidate[] = ranked.map((r) => ({
    name: r.f.cluster.name,
    score: round3(r.score),
    terms: Object.fromEntries(termNames.map((t) => [t, round3(r.terms[t])])),
  }));
  return { candidates, excluded, isolation, scored };
}

const shownCandidates = 6;

/** Why the first candidate won, in one line (the choice's `reason`); assumes there is one. */
export function describePlacement(result: PlacementResult, registry: ClusterRegistry): string {
  const [best, next] = result.candidates;
  const excluded = result.excluded.map((e) => `${e.name}: ${e.reason}`).join('; ');
  if (best === undefined) return `no cluster fits (${excluded})`;
  if (next === undefined) return `the only cluster that fits${excluded !== '' ? ` (${excluded})` : ''}`;
  const names = result.candidates.map((c) => c.name);
  if (!result.scored) return `first of ${names.join(', ')} in registry order (no probe view yet)`;
  const indexOf = (name: string): number => registry.findIndex((c) => c.name === name);
  const weightOf = (name: string): number => registry[indexOf(name)]?.weight ?? 1;
  const listed = result.candidates
    .slice(0, shownCandidates)
    .map((c) => `${c.name} ${c.score.toFixed(2)}`)
    .join(', ');
  const more =
    result.candidates.length > shownCandidates
      ? `, … ${result.candidates.length - shownCandidates} more`
      : '';
  const terms = Object.entries(best.terms)
    .map(([t, v]) => `${t} ${v.toFixed(2)}`)
    .join(', ');
  const weight = weightOf(best.name);
  const why =
    weight === 0
      ? '; weight 0, and no cluster of positive weight fits'
      : best.score === next.score && weightOf(next.name) !== 0 && indexOf(best.name) < indexOf(next.name)
        ? `; tied with ${next.name}, first in registry order`
        : '';
  return `best score ${best.score.toFixed(2)} of ${listed}${more} (${terms}${weight !== 1 ? `, weight ${weight}` : ''})${why}`;
}
