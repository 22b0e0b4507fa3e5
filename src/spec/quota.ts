/**
 * The contract of a team's quota workflow (`quota-<team>`, docs/quota.md): the `reserve` update, the `release`
 * signal, the `quotaGranted` signal it sends an evaluation, its `quota` query, and its continue-as-new input. zod
 * schemas with the types inferred from them, so the CLI parses what it reads back.
 */
import { z } from 'zod';
import { priorities } from './spec-constants.js';
import { jobResourcesSchema } from './job-request.js';

/** Workflow type of the per-team quota workflow. */
export const quotaWorkflowType = 'teamQuota';
/** Workflow id of `team`'s quota workflow. */
export function quotaWorkflowId(team: string): string {
  return `quota-${team}`;
}
export const reserveUpdateName = 'reserve';
export const releaseSignalName = 'release';
export const quotaGrantedSignalName = 'quotaGranted';
export const quotaQueryName = 'quota';

const limitsSchema = z.object({
  maxRunning: z.number().int().nonnegative().optional(),
  cpu: z.number().int().nonnegative().optional(),
  memory: z.number().int().nonnegative().optional(),
  gpu: z.record(z.string(), z.number().int().nonnegative()).optional(),
});

/** A team's policy as the quota workflow holds it: amounts already in millicores and bytes. */
export const teamPolicySchema = limitsSchema.extend({ users: z.record(z.string(), limitsSchema) });

export const fairnessSchema = z.object({
  agingSeconds: z.number().int().positive(),
  starvationSeconds: z.number().int().positive(),
});

export const demandSchema = z.object({
  cpu: z.number().int().nonnegative(),
  memory: z.number().int().nonnegative(),
  gpu: z.record(z.string(), z.number().int().nonnegative()),
});

const entrySchema = z.object({
  evaluationId: z.string(),
  workflowId: z.string(),
  user: z.string(),
  priority: z.enum(priorities),
  demand: demandSchema,
  queuedAt: z.number(),
  seq: z.number().int(),
});

/** What the evaluation workflow asks its reserve activity for. */
export const reserveQuotaInputSchema = z.object({
  team: z.string().min(1),
  user: z.string().min(1),
  evaluationId: z.string().min(1),
  workflowId: z.string().min(1),
  priority: z.enum(priorities),
  resources: jobResourcesSchema,
});
export type ReserveQuotaInput = z.infer<typeof reserveQuotaInputSchema>;

/** Argument of the quota workflow's `reserve` update. */
export interface ReserveRequest {
  evaluationId: string;
  workflowId: string;
  user: string;
  priority: (typeof priorities)[number];
  demand: z.infer<typeof demandSchema>;
  /** The team's policy as the worker's config says now: a changed limit applies from the next admission on. */
  policy: z.infer<typeof teamPolicySchema>;
  fairness: z.infer<typeof fairnessSchema>;
}

/** The `reserve` update's answer, given at once: the grant of a queued evaluation arrives later by signal. */
export type ReserveAnswer =
  | { status: 'granted'; admittedAt: string }
  | { status: 'queued'; position: number; waitingFor: string; queuedAt: string }
  | { status: 'refused'; reason: string };

/** The reserve activity's answer: the quota workflow's, or `unlimited` for a team without a quota. */
export type ReserveResult = (ReserveAnswer & { quotaWorkflowId: string }) | { status: 'unlimited' };

/** Argument of the `quotaGranted` signal. */
export interface QuotaGrant {
  admittedAt: string;
}

/** Argument of the `release` signal: the evaluation gives its reservation (or queue entry) back. */
export interface ReleaseRequest {
  evaluationId: string;
}

/** Carried over continue-as-new: every holder and queued entry, the arrival counter and the admissions so far. */
export const quotaStateSchema = z.object({
  holders: z.array(entrySchema.extend({ admittedAt: z.number() })),
  queue: z.array(entrySchema),
  seq: z.number().int(),
  admissions: z.number().int(),
  /** Runs of this workflow before this one (continue-as-new count). */
  generation: z.number().int(),
  /** Holders admitted whose grant signal was not sent yet: the next run sends it (absent in older states). */
  ungranted: z.array(z.string()).optional(),
});
export type QuotaState = z.infer<typeof quotaStateSchema>;

export interface TeamQuotaInput {
  team: string;
  policy: z.infer<typeof teamPolicySchema>;
  fairness: z.infer<typeof fairnessSchema>;
  holderCheckSeconds: number;
  /** Continue-as-new after this many history events (a fresh run carries the state). */
  maxHistoryEvents: number;
  state: QuotaState | null;
}

/** The answer of the `quota` query: what `assay quota` shows for one team. */
export const quotaSnapshotSchema = z.object({
  team: z.string(),
  policy: teamPolicySchema,
  fairness: fairnessSchema,
  inUse: z.object({
    running: z.number().int(),
    cpu: z.number().int(),
    memory: z.number().int(),
    gpu: z.record(z.string(), z.number().int()),
  }),
  admissions: z.number().int(),
  generation: z.number().int(),
  holders: z.array(entrySchema.extend({ admittedAt: z.number() })),
  queue: z.array(entrySchema.extend({ position: z.number().int(), waitingFor: z.string() })),
});
export type QuotaSnapshot = z.infer<typeof quotaSnapshotSchema>;
