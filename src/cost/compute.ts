/**
 * The cost of an evaluation (docs/cost.md, "The formula"): per attempt and resource, max(request, usage) × wall time ×
 * price, spot prices on spot nodes. Pure: the central record activity calls it with the attempts from history and the
 * cluster's pricing from the worker config.
 */
import type { Pricing } from '../spec/pricing-config.js';
import type {
  AppliedPrices,
  AttemptCost,
  AttemptMeasurement,
  ByResource,
  EvaluationCost,
} from '../spec/cost.js';

const gib = 1024 ** 3;

/** What the cost needs of one attempt of the record. */
export interface CostedAttempt {
  attempt: number;
  kind: string | null;
  startedAt: string | null;
  finishedAt: string | null;
  measurement?: AttemptMeasurement | null | undefined;
  /** The cluster the attempt ran on, when it moved between clusters: priced at that cluster's prices. */
  cluster?: string | undefined;
}

/** The prices per hour that apply to spot capacity: explicit, else on-demand less the discount, else on-demand. */
export function appliedPrices(pricing: Pricing, cluster: string | null): AppliedPrices {
  const off = (onDemand: number): number =>
    pricing.spot.discount === null ? onDemand : onDemand * (1 - pricing.spot.discount);
  const spotGpu: Record<string, number> = {};
  for (const [type, p] of Object.entries(pricing.gpuHour))
    spotGpu[type] = pricing.spot.gpuHour[type] ?? off(p);
  for (const [type, p] of Object.entries(pricing.spot.gpuHour)) spotGpu[type] = p;
  return {
    version: pricing.version,
    cluster,
    onDemand: {
      cpuCoreHour: pricing.cpuCoreHour,
      memoryGiBHour: pricing.memoryGiBHour,
      ephemeralStorageGiBHour: pricing.ephemeralStorageGiBHour,
      gpuHour: { ...pricing.gpuHour },
    },
    spot: {
      cpuCoreHour: pricing.spot.cpuCoreHour ?? off(pricing.cpuCoreHour),
      memoryGiBHour: pricing.spot.memoryGiBHour ?? off(pricing.memoryGiBHour),
      ephemeralStorageGiBHour: pricing.spot.ephemeralStorageGiBHour ?? off(pricing.ephemeralStorageGiBHour),
      gpuHour: spotGpu,
    },
  };
}

function gpuPrice(table: Record<string, number>, type: string | null): number | null {
  return (type !== null ? table[type] : undefined) ?? table['*'] ?? null;
}

function seconds(from: string | null, to: string | null): number {
  if (from === null || to === null) return 0;
  const start = Date.parse(from);
  // The Unix epoch is a runtime's zero time, never a real start (records written before classify.ts knew it).
  if (!(start > 0)) return 0;
  return Math.max(0, (Date.parse(to) - start) / 1000);
}

const zero = (): ByResource => ({ cpu: 0, memory: 0, gpu: 0, ephemeralStorage: 0 });

/** The cost of one attempt. Never silently zero: what cannot be priced is named in `partial`. */
export function attemptCost(a: CostedAttempt, prices: AppliedPrices): AttemptCost {
  const m = a.measurement ?? null;
  const end = a.finishedAt ?? m?.observedEndAt ?? null;
  // Queued time costs nothing: the wall time runs from the main container's start to its end.
  const secs = seconds(a.startedAt, end);
  const hours = secs / 3600;
  const table = m?.spot === true ? prices.spot : prices.onDemand;
  const cpuRequest = (m?.requests.cpuCores ?? 0) * hours;
  const cpuUsed = (m?.usage.cpuCoreSeconds ?? 0) / 3600;
  const memRequest = ((m?.requests.memoryBytes ?? 0) / gib) * hours;
  const memUsed = ((m?.usage.peakMemoryBytes ?? 0) / gib) * hours;
  const diskRequest = ((m?.requests.ephemeralStorageBytes ?? 0) / gib) * hours;
  const diskUsed = ((m?.usage.peakEphemeralStorageBytes ?? 0) / gib) * hours;
  const gpuHours = (m?.gpu?.count ?? 0) * hours;
  const gpuPerHour = gpuHours > 0 ? gpuPrice(table.gpuHour, m?.gpu?.type ?? null) : 0;
  const quantity = (request: number, used: number, pricePerHour: number | null) => ({
    unitHours: Math.max(request, used),
    basis: used > request ? ('usage' as const) : ('request' as const),
    pricePerHour,
  });
  const quantities = {
    cpu: quantity(cpuRequest, cpuUsed, table.cpuCoreHour),
    memory: quantity(memRequest, memUsed, table.memoryGiBHour),
    gpu: quantity(gpuHours, 0, gpuPerHour),
    ephemeralStorage: quantity(diskRequest, diskUsed, table.ephemeralStorageGiBHour),
  };
  const byResource: ByResource = {
    cpu: quantities.cpu.unitHours * table.cpuCoreHour,
    memory: quantities.memory.unitHours * table.memoryGiBHour,
    gpu: quantities.gpu.unitHours * (gpuPerHour ?? 0),
    ephemeralStorage: quantities.ephemeralStorage.unitHours * table.ephemeralStorageGiBHour,
  };
  let partial: string | null = null;
  if (m === null && secs > 0) {
    partial = `attempt ${a.attempt} ran ${secs} s but was not measured (no requests or usage known): priced at zero`;
  } else if (gpuHours > 0 && gpuPerHour === null) {
    partial =
      `attempt ${a.attempt}: no ${m?.spot === true ? 'spot ' : ''}price for GPU type ` +
      `${JSON.stringify(m?.gpu?.type ?? null)} in price version ${JSON.stringify(prices.version)}` +
      `${prices.cluster !== null ? ` (cluster ${prices.cluster})` : ''}: ${gpuHours.toFixed(4)} GPU-hours not priced`;
  }
  return {
    attempt: a.attempt,
    kind: a.kind,
    node: m?.node ?? null,
    spot: m?.spot ?? false,
    startedAt: a.startedAt,
    finishedAt: end,
    seconds: secs,
    total: byResource.cpu + byResource.memory + byResource.gpu + byResource.ephemeralStorage,
    byResource,
    quantities,
    partial,
  };
}

/** The cost of an evaluation: every attempt (failed and infrastructure ones too), the last one apart. */
export function evaluationCost(
  attempts: readonly CostedAttempt[],
  pricing: Pricing,
  cluster: string | null,
  /** The pricing of another cluster an attempt ran on (an evaluation that moved); absent: every attempt at `pricing`. */
  pricingOf?: (cluster: string) => Pricing,
): EvaluationCost {
  const prices = appliedPrices(pricing, cluster);
  const costs = attempts.map((a) =>
    attemptCost(
      a,
      a.cluster === undefined || a.cluster === cluster || pricingOf === undefined
        ? prices
        : appliedPrices(pricingOf(a.cluster), a.cluster),
    ),
  );
  const byResource = zero();
  for (const c of costs)
    for (const r of Object.keys(byResource) as (keyof ByResource)[]) byResource[r] += c.byResource[r];
  const total = costs.reduce((s, c) => s + c.total, 0);
  const final = costs.length > 0 ? costs[costs.length - 1]!.total : 0;
  const partials = costs.map((c) => c.partial).filter((p): p is string => p !== null);
  return {
    currency: pricing.currency,
    total,
    byResource,
    final,
    retried: total - final,
    attempts: costs,
    prices,
    partial: partials.length > 0 ? partials.join('; ') : null,
  };
}
