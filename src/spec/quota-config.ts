/**
 * The `quotas:` section of the worker config (docs/quota.md): per-team limits on what runs at once, per-user caps
 * inside a team, and the knobs of the queue's fairness. Amounts are parsed to whole millicores and bytes here, once,
 * so the quota workflow only ever compares numbers.
 */
import { z } from 'zod';
import { formatBytes, formatMillicores, parseBytes, parseCpu } from './quantity.js';

const quantityInput = z.union([z.string(), z.number()], {
  error: 'must be a Kubernetes quantity such as "500m", "8" or "16Gi"',
});

/** A CPU limit: a quantity, parsed to millicores (negative and non-quantities are refused by `parseCpu`). */
export const cpuLimit = quantityInput.transform((value, ctx) => {
  const parsed = parseCpu(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.message });
    return z.NEVER;
  }
  return parsed.value.millicores;
});

/** A memory limit: a quantity, parsed to bytes. */
export const memoryLimit = quantityInput.transform((value, ctx) => {
  const parsed = parseBytes(value);
  if (!parsed.ok) {
    ctx.addIssue({ code: 'custom', message: parsed.message });
    return z.NEVER;
  }
  return parsed.value.bytes;
});

const count = z.number().int('must be a whole number').nonnegative('must not be negative');

/** Limits of one scope (a team, or one user within it). Absent: that dimension is not limited. */
const limitsShape = {
  /** Evaluations holding a reservation at once. */
  maxRunning: count.optional(),
  /** Sum of the CPU requests, e.g. `8` or `500m`. */
  cpu: cpuLimit.optional(),
  /** Sum of the memory requests, e.g. `32Gi`. */
  memory: memoryLimit.optional(),
  /** GPUs per type (`any` for requests that name no type). A type not listed may not be used when this is set. */
  gpu: z.record(z.string().min(1), count).optional(),
};

export const quotaLimitsSchema = z.strictObject(limitsShape);
export type QuotaLimits = z.infer<typeof quotaLimitsSchema>;

const userName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label');

/** One team's quota: its limits, and caps for its users (`default` for any user not named). */
export const teamQuotaSchema = z
  .strictObject({
    ...limitsShape,
    users: z.record(userName.or(z.literal('default')), quotaLimitsSchema).default({}),
  })
  .superRefine((team, ctx) => {
    for (const [user, caps] of Object.entries(team.users)) {
      for (const problem of capsAboveTeam(team, caps)) {
        ctx.addIssue({
          code: 'custom',
          path: ['users', user, problem.field],
          message: `user cap ${problem.cap} is above the team's ${problem.team}`,
        });
      }
    }
  });
export type TeamQuota = z.infer<typeof teamQuotaSchema>;

function capsAboveTeam(team: QuotaLimits, caps: QuotaLimits): { field: string; cap: string; team: string }[] {
  const out: { field: string; cap: string; team: string }[] = [];
  if (team.maxRunning !== undefined && caps.maxRunning !== undefined && caps.maxRunning > team.maxRunning)
    out.push({ field: 'maxRunning', cap: String(caps.maxRunning), team: String(team.maxRunning) });
  if (team.cpu !== undefined && caps.cpu !== undefined && caps.cpu > team.cpu)
    out.push({ field: 'cpu', cap: formatMillicores(caps.cpu), team: formatMillicores(team.cpu) });
  if (team.memory !== undefined && caps.memory !== undefined && caps.memory > team.memory)
    out.push({ field: 'memory', cap: formatBytes(caps.memory, true), team: formatBytes(team.memory, true) });
  if (team.gpu !== undefined && caps.gpu !== undefined) {
    for (const [type, n] of Object.entries(caps.gpu)) {
      const limit = team.gpu[type] ?? 0;
      if (n > limit) out.push({ field: `gpu.${type}`, cap: String(n), team: String(limit) });
    }
  }
  return out;
}

const teamName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label');

export const quotasSchema = z
  .strictObject({
    /** The quota of every team not listed under `teams`; absent: such teams are not limited (no queue). */
    default: teamQuotaSchema.optional(),
    teams: z.record(teamName, teamQuotaSchema).default({}),
    /**
     * Aging: a waiting evaluation rises one priority class (low → normal → high) per this many seconds of waiting,
     * so a stream of higher-priority work cannot keep it out for ever.
     */
    agingSeconds: z.number().int().positive().max(86_400).default(600),
    /**
     * Starvation guard: once the first evaluation in order has waited this long without fitting, capacity freed is
     * kept for it — nothing behind it is admitted until it fits.
     */
    starvationSeconds: z.number().int().positive().max(86_400).default(300),
    /**
     * The Kubernetes backstop: a ResourceQuota and LimitRange per team namespace derived from this policy, and the
     * PriorityClasses `assay-low|normal|high` for evaluation pods. False where the worker may not manage them.
     */
    kubernetesBackstop: z.boolean().default(true),
    /** How often the quota workflow checks that the evaluations holding a reservation still run. */
    holderCheckSeconds: z.number().int().positive().max(3600).default(20),
  })
  .prefault({});
export type QuotasConfig = z.infer<typeof quotasSchema>;

/** The quota a team gets: its own entry, else `default`, else none (not limited). */
export function teamQuotaOf(quotas: QuotasConfig, team: string): TeamQuota | null {
  return quotas.teams[team] ?? quotas.default ?? null;
}
