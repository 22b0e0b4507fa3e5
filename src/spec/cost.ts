/**
 * Cost contracts (docs/cost.md): what the wait activity measures of one attempt, the record's `cost`, and one entry
 * of the cost ledger (`ledger/cost/<yyyy>/<mm>/<dd>/<id>.json`). Key names are API.
 */
import { z } from 'zod';

const isoTimestamp = z.iso.datetime({ offset: true });
const amount = z.number().nonnegative();

/** One attempt as measured on its node while it ran: where, what it asked for, what it used. */
export const attemptMeasurementSchema = z.object({
  node: z.string().nullable(),
  /** Whether the node was spot capacity, from its labels read while the attempt ran. */
  spot: z.boolean(),
  /** The label (`key=value`) that marked the node as spot. */
  spotLabel: z.string().nullable(),
  /** The main container's requests (CPU in cores, memory and ephemeral storage in bytes). */
  requests: z.object({ cpuCores: amount, memoryBytes: amount, ephemeralStorageBytes: amount }),
  limits: z.object({
    cpuCores: amount.nullable(),
    memoryBytes: amount.nullable(),
    ephemeralStorageBytes: amount.nullable(),
  }),
  gpu: z.object({ count: z.number().int().nonnegative(), type: z.string().nullable() }).nullable(),
  /** What the kubelet's summary API reported for the main container; null fields: never sampled. */
  usage: z.object({
    samples: z.number().int().nonnegative(),
    peakMemoryBytes: amount.nullable(),
    cpuCoreSeconds: amount.nullable(),
    peakEphemeralStorageBytes: amount.nullable(),
  }),
  /** When the wait saw the attempt end: the end of its wall time when the container's own end is unknown. */
  observedEndAt: isoTimestamp.nullable(),
});
export type AttemptMeasurement = z.infer<typeof attemptMeasurementSchema>;

export const costResources = ['cpu', 'memory', 'gpu', 'ephemeralStorage'] as const;
export type CostResource = (typeof costResources)[number];
export const byResourceSchema = z.object({
  cpu: amount,
  memory: amount,
  gpu: amount,
  ephemeralStorage: amount,
});
export type ByResource = z.infer<typeof byResourceSchema>;

/** The quantity that was priced for one resource: max(request, usage) and which of the two it was. */
export const pricedQuantitySchema = z.object({
  /** Core-hours, GiB-hours or GPU-hours. */
  unitHours: amount,
  basis: z.enum(['request', 'usage']),
  pricePerHour: amount.nullable(),
});

export const attemptCostSchema = z.object({
  attempt: z.number().int().positive(),
  /** How the attempt ended (`Succeeded`, `Failed`, `Infrastructure`, …): failed attempts cost money too. */
  kind: z.string().nullable(),
  node: z.string().nullable(),
  spot: z.boolean(),
  startedAt: isoTimestamp.nullable(),
  finishedAt: isoTimestamp.nullable(),
  seconds: amount,
  total: amount,
  byResource: byResourceSchema,
  quantities: z.object({
    cpu: pricedQuantitySchema,
    memory: pricedQuantitySchema,
    gpu: pricedQuantitySchema,
    ephemeralStorage: pricedQuantitySchema,
  }),
  /** Set when a part could not be priced (e.g. a GPU type without a price): the total leaves it out. */
  partial: z.string().nullable(),
});
export type AttemptCost = z.infer<typeof attemptCostSchema>;

/** The prices a cost was computed with: the pricing's version, on-demand and spot, per hour. */
export const appliedPricesSchema = z.object({
  version: z.string(),
  cluster: z.string().nullable(),
  onDemand: z.object({
    cpuCoreHour: amount,
    memoryGiBHour: amount,
    ephemeralStorageGiBHour: amount,
    gpuHour: z.record(z.string(), amount),
  }),
  spot: z.object({
    cpuCoreHour: amount,
    memoryGiBHour: amount,
    ephemeralStorageGiBHour: amount,
    gpuHour: z.record(z.string(), amount),
  }),
});
export type AppliedPrices = z.infer<typeof appliedPricesSchema>;

/** The record's `cost`. */
export const evaluationCostSchema = z.object({
  currency: z.string(),
  total: amount,
  byResource: byResourceSchema,
  /** Cost of the attempt that decided the outcome vs. the attempts before it (failed or infrastructure). */
  final: amount,
  retried: amount,
  attempts: z.array(attemptCostSchema),
  prices: appliedPricesSchema,
  /** Set when any attempt could not be fully priced; the reason. */
  partial: z.string().nullable(),
});
export type EvaluationCost = z.infer<typeof evaluationCostSchema>;

/** One entry of the cost ledger: everything a report groups and sums by, nothing more. */
export const ledgerEntrySchema = z.object({
  evaluationId: z.string().min(1),
  team: z.string(),
  user: z.string(),
  cluster: z.string().nullable(),
  labels: z.record(z.string(), z.string()),
  outcome: z.string(),
  /** When the evaluation finished: the day of the ledger key. */
  finishedAt: isoTimestamp,
  currency: z.string(),
  total: amount,
  byResource: byResourceSchema,
  /** Sums over the attempts: core-hours, GiB-hours, GPU-hours actually priced. */
  usage: z.object({ cpuCoreHours: amount, memoryGiBHours: amount, gpuHours: amount, seconds: amount }),
  attempts: z.number().int().nonnegative(),
  retried: amount,
  spot: z.boolean(),
  priceVersion: z.string(),
  partial: z.string().nullable(),
});
export type LedgerEntry = z.infer<typeof ledgerEntrySchema>;

/** `ledger/cost/<yyyy>/<mm>/<dd>/<id>.json`, by the UTC day the evaluation finished. */
export function ledgerKey(finishedAt: string, evaluationId: string): string {
  const day = new Date(finishedAt).toISOString().slice(0, 10);
  const [y, m, d] = day.split('-');
  return `${ledgerPrefix}${y}/${m}/${d}/${evaluationId}.json`;
}
export const ledgerPrefix = 'ledger/cost/';
