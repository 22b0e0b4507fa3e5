/**
 * The worker config's `cost:` section (docs/cost.md): prices per cluster, the node labels that mark spot capacity,
 * how often usage is sampled, and per-team budgets. Without a section every cluster is priced at OpenCost's default
 * prices (its `configs/default.json`, based on GCP us-central1), so a fresh install records a plausible cost at once.
 */
import { z } from 'zod';

/** OpenCost's default prices (USD per hour), the documented fallback. */
export const openCostDefaultPrices = {
  version: 'opencost-default',
  cpuCoreHour: 0.031611,
  memoryGiBHour: 0.004237,
  /** OpenCost's `storage` price is per GiB-month (0.04 / 730 h). */
  ephemeralStorageGiBHour: 0.00005479452,
  spotCpuCoreHour: 0.006655,
  spotMemoryGiBHour: 0.000892,
  /** OpenCost's `GPU` price; Assay applies it to no GPU type unless configured (see `gpuHour`). */
  gpuHour: 0.95,
} as const;

/** The node labels that mark spot (preemptible) capacity on the common providers. */
export const defaultSpotLabels = [
  { key: 'karpenter.sh/capacity-type', values: ['spot'] },
  { key: 'cloud.google.com/gke-spot', values: ['true'] },
  { key: 'kubernetes.azure.com/scalesetpriority', values: ['spot'] },
  { key: 'eks.amazonaws.com/capacityType', values: ['SPOT'] },
] as const;

const price = z.number().nonnegative().finite();

/**
 * Spot prices: an explicit price per resource, else the on-demand price less `discount` (0.7 = 70 % off), else the
 * on-demand price.
 */
export const spotPricingSchema = z
  .object({
    cpuCoreHour: price.nullable().default(null),
    memoryGiBHour: price.nullable().default(null),
    ephemeralStorageGiBHour: price.nullable().default(null),
    /** Per GPU type, as `gpuHour`. */
    gpuHour: z.record(z.string().min(1), price).default({}),
    /** Applied to every resource without an explicit spot price; null: such a resource costs its on-demand price. */
    discount: z.number().min(0).max(1).nullable().default(null),
  })
  .prefault({});
export type SpotPricing = z.infer<typeof spotPricingSchema>;

export const spotLabelSchema = z.object({
  key: z.string().min(1),
  values: z.array(z.string()).min(1, 'must list at least one value'),
});

/** The prices of one cluster. */
export const pricingSchema = z
  .object({
    /** Named in every cost computed with these prices, so a later price change is traceable. */
    version: z.string().min(1).default(openCostDefaultPrices.version),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, 'must be an ISO 4217 code such as USD')
      .default('USD'),
    cpuCoreHour: price.default(openCostDefaultPrices.cpuCoreHour),
    memoryGiBHour: price.default(openCostDefaultPrices.memoryGiBHour),
    ephemeralStorageGiBHour: price.default(openCostDefaultPrices.ephemeralStorageGiBHour),
    /**
     * Per GPU type (the spec's `resources.gpu.type`; `*` for any type not listed). A type that ran without a price
     * makes the cost partial, never silently zero.
     */
    gpuHour: z.record(z.string().min(1), price).default({}),
    spot: spotPricingSchema,
    /** A node carrying any of these labels (with one of the values) is spot capacity. */
    spotLabels: z
      .array(spotLabelSchema)
      .default(() => defaultSpotLabels.map((l) => ({ ...l, values: [...l.values] }))),
  })
  .prefault({});
export type Pricing = z.infer<typeof pricingSchema>;

export const budgetSchema = z.object({
  monthly: price.refine((v) => v > 0, 'must be positive'),
  /** `showback`: reported only; `chargeback`: billed to the team, over-budget flagged in reports. */
  mode: z.enum(['showback', 'chargeback']).default('chargeback'),
  /** True: `assay run` refuses new evaluations of a team over its budget (exit 2, with the figures). */
  hardStop: z.boolean().default(false),
});
export type Budget = z.infer<typeof budgetSchema>;

export const costConfigSchema = z
  .object({
    /** Prices of a cluster not listed in `clusters`; by default OpenCost's, spot included. */
    defaultPricing: pricingSchema.prefault({
      spot: {
        cpuCoreHour: openCostDefaultPrices.spotCpuCoreHour,
        memoryGiBHour: openCostDefaultPrices.spotMemoryGiBHour,
      },
    }),
    /** Prices per cluster name. */
    clusters: z.record(z.string().min(1), pricingSchema).default({}),
    /** How often a running attempt's usage is read from its node's kubelet (one request per node per interval). */
    sampleIntervalSeconds: z.number().positive().max(3600).default(15),
    /** Monthly budget per team (in the pricing's currency). */
    budgets: z.record(z.string().min(1), budgetSchema).default({}),
  })
  .prefault({});
export type CostConfig = z.infer<typeof costConfigSchema>;

/** The prices of `cluster`: its own, else the default. */
export function pricingFor(config: CostConfig, cluster: string | null): Pricing {
  return (cluster !== null ? config.clusters[cluster] : undefined) ?? config.defaultPricing;
}
