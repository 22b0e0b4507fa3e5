/**
 * The admission policy of a team's quota queue (docs/quota.md, "Order and fairness"), pure and deterministic so the
 * quota workflow can run it: priority (`high` > `normal` > `low`) then FIFO; an evaluation that does not fit does not
 * block smaller ones behind it (BestEffortFIFO); aging raises a waiting evaluation one class per `agingSeconds`; and
 * the starvation guard keeps freed capacity for the first evaluation in order once it has waited `starvationSeconds`
 * without fitting. Per-user caps hold whether or not others wait.
 */
import { formatBytes, formatMillicores, parseBytes, parseCpu } from '../spec/quantity.js';
import type { QuotaLimits, TeamQuota } from '../spec/quota-config.js';
import { priorities, type Priority } from '../spec/spec-constants.js';

/** What one evaluation reserves: CPU in millicores, memory in bytes, GPUs per type (`any` when it names none). */
export interface Demand {
  readonly cpu: number;
  readonly memory: number;
  readonly gpu: Readonly<Record<string, number>>;
}

/** An evaluation waiting for its reservation. `queuedAt` is epoch ms; `seq` orders arrivals (FIFO). */
export interface QueueEntry {
  readonly evaluationId: string;
  readonly workflowId: string;
  readonly user: string;
  readonly priority: Priority;
  readonly demand: Demand;
  readonly queuedAt: number;
  readonly seq: number;
}

/** An evaluation holding a reservation. */
export interface Holder extends QueueEntry {
  readonly admittedAt: number;
}

/** How much of a scope is in use. */
export interface Usage {
  running: number;
  cpu: number;
  memory: number;
  gpu: Record<string, number>;
}

export interface Fairness {
  readonly agingSeconds: number;
  readonly starvationSeconds: number;
}

/** Where a queued evaluation stands and why it waits. */
export interface Waiting {
  /** 1-based position in admission order. */
  readonly position: number;
  readonly waitingFor: string;
}

export interface AdmissionPlan {
  /** Entries admitted now, in admission order. */
  readonly admit: QueueEntry[];
  /** Every entry left waiting, by evaluation id. */
  readonly waiting: Map<string, Waiting>;
}

/** The GPU key of a request: its type, or `any`. */
export const anyGpu = 'any';

export function emptyUsage(): Usage {
  return { running: 0, cpu: 0, memory: 0, gpu: {} };
}

export function addUsage(usage: Usage, demand: Demand): void {
  usage.running += 1;
  usage.cpu += demand.cpu;
  usage.memory += demand.memory;
  for (const [type, n] of Object.entries(demand.gpu)) usage.gpu[type] = (usage.gpu[type] ?? 0) + n;
}

/** The usage of `holders`, optionally only those of `user`. */
export function usageOf(holders: readonly Holder[], user?: string): Usage {
  const usage = emptyUsage();
  for (const h of holders) if (user === undefined || h.user === user) addUsage(usage, h.demand);
  return usage;
}

/** A user's caps within a team: their own entry, else the team's `users.default`, else none. */
export function userCaps(team: TeamQuota, user: string): QuotaLimits | undefined {
  return team.users[user] ?? team.users.default;
}

function cpuText(m: number): string {
  return formatMillicores(m);
}
function memText(b: number): string {
  return formatBytes(b, true);
}

/**
 * The first dimension of `limits` that `demand` does not fit into given `used`, as a sentence
 * (`cpu: needs 2, free 500m of 8`); null when it fits.
 */
export function misfit(limits: QuotaLimits | undefined, used: Usage, demand: Demand): string | null {
  if (limits === undefined) return null;
  if (limits.maxRunning !== undefined && used.running + 1 > limits.maxRunning)
    return `a running slot: ${used.running} of ${limits.maxRunning} in use`;
  if (limits.cpu !== undefined && used.cpu + demand.cpu > limits.cpu)
    return `cpu: needs ${cpuText(demand.cpu)}, free ${cpuText(Math.max(0, limits.cpu - used.cpu))} of ${cpuText(limits.cpu)}`;
  if (limits.memory !== undefined && used.memory + demand.memory > limits.memory)
    return `memory: needs ${memText(demand.memory)}, free ${memText(Math.max(0, limits.memory - used.memory))} of ${memText(limits.memory)}`;
  if (limits.gpu !== undefined) {
    for (const [type, n] of Object.entries(demand.gpu)) {
      if (n === 0) continue;
      const limit = limits.gpu[type] ?? 0;
      const inUse = used.gpu[type] ?? 0;
      if (inUse + n > limit) return `gpu ${type}: needs ${n}, free ${Math.max(0, limit - inUse)} of ${limit}`;
    }
  }
  return null;
}

/**
 * Why an evaluation can never be admitted under `team` (larger than the team's whole quota, or its user's cap), with
 * the numbers; null when it could fit into an empty queue.
 */
export function neverFits(team: TeamQuota, user: string, demand: Demand): string | null {
  const teamProblem = misfit(team, emptyUsage(), demand);
  if (teamProblem !== null) return `larger than team quota: ${teamProblem}`;
  const userProblem = misfit(userCaps(team, user), emptyUsage(), demand);
  if (userProblem !== null) return `larger than user ${user}'s cap: ${userProblem}`;
  return null;
}

const rank = (p: Priority): number => priorities.indexOf(p);

/** The class an entry competes in after aging: its own, raised one per `agingSeconds` waited, at most `high`. */
export function effectiveRank(entry: QueueEntry, now: number, fairness: Fairness): number {
  const aged = Math.floor(Math.max(0, now - entry.queuedAt) / (fairness.agingSeconds * 1000));
  return Math.min(priorities.length - 1, rank(entry.priority) + aged);
}

/** Admission order: effective priority, highest first, then arrival. */
export function admissionOrder(queue: readonly QueueEntry[], now: number, fairness: Fairness): QueueEntry[] {
  return queue
    .map((entry) => ({ entry, rank: effectiveRank(entry, now, fairness) }))
    .sort((a, b) => b.rank - a.rank || a.entry.seq - b.entry.seq)
    .map((x) => x.entry);
}

/**
 * Decides which queued entries are admitted now, and where the others stand and why. Entries that do not fit are
 * skipped (BestEffortFIFO) unless the starvation guard holds everything behind the first one that has waited too long.
 */
export function planAdmissions(
  team: TeamQuota,
  holders: readonly Holder[],
  queue: readonly QueueEntry[],
  now: number,
  fairness: Fairness,
): AdmissionPlan {
  const used = usageOf(holders);
  const perUser = new Map<string, Usage>();
  const userUsage = (user: string): Usage => {
    let u = perUser.get(user);
    if (u === undefined) {
      u = usageOf(holders, user);
      perUser.set(user, u);
    }
    return u;
  };
  const admit: QueueEntry[] = [];
  const waiting = new Map<string, Waiting>();
  let guardedFor: QueueEntry | null = null;
  let position = 0;
  for (const entry of admissionOrder(queue, now, fairness)) {
    if (guardedFor !== null) {
      waiting.set(entry.evaluationId, {
        position: ++position,
        waitingFor: `waiting behind ${guardedFor.evaluationId} (starvation guard: freed capacity is kept for it)`,
      });
      continue;
    }
    const mine = userUsage(entry.user);
    const userProblem = misfit(userCaps(team, entry.user), mine, entry.demand);
    const teamProblem = misfit(team, used, entry.demand);
    if (userProblem === null && teamProblem === null) {
      admit.push(entry);
      addUsage(used, entry.demand);
      addUsage(mine, entry.demand);
      continue;
    }
    waiting.set(entry.evaluationId, {
      position: ++position,
      waitingFor:
        teamProblem !== null
          ? `waiting for ${teamProblem}`
          : `waiting for user ${entry.user}'s cap on ${userProblem ?? ''}`,
    });
    // Only a team-level shortage is worth keeping capacity for: a user's own cap frees only with their own work.
    if (
      teamProblem !== null &&
      userProblem === null &&
      now - entry.queuedAt >= fairness.starvationSeconds * 1000
    )
      guardedFor = entry;
  }
  return { admit, waiting };
}

/** The demand of an evaluation's resources (requests; GPUs by type, `any` when untyped). Quantities are canonical. */
export function demandOf(resources: {
  requests: { cpu: string; memory: string };
  gpu: { count: number; type: string | null } | null;
}): Demand {
  const cpu = parseCpu(resources.requests.cpu);
  const memory = parseBytes(resources.requests.memory);
  if (!cpu.ok) throw new Error(`resources.cpu: ${cpu.message}`);
  if (!memory.ok) throw new Error(`resources.memory: ${memory.message}`);
  const gpu =
    resources.gpu !== null && resources.gpu.count > 0
      ? { [resources.gpu.type ?? anyGpu]: resources.gpu.count }
      : {};
  return { cpu: cpu.value.millicores, memory: memory.value.bytes, gpu };
}
