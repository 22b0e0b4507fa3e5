/**
 * Cluster selection (docs/architecture.md, "The evaluation workflow" step 2; docs/multi-cluster.md, "Selection"):
 * filter the registry by the spec's requirements, score what is left (src/placement/select.ts), and return the choice
 * with its candidates and exclusions (recorded in history as this activity's result).
 */
import { ApplicationFailure } from '@temporalio/common';
import { clusterTaskQueue, workflowTaskQueue } from '../spec/names.js';
import { errorTypes, retryableErrorTypes } from '../spec/error-types.js';
import { createHash } from 'node:crypto';
import {
  teamNamespace,
  type ClusterRegistry,
  type ExecutorKind,
  type ExecutorsConfig,
} from '../spec/worker-config.js';
import { teamQuotaOf, type QuotasConfig } from '../spec/quota-config.js';
import type { AvoidedCluster, ClusterActivities, ClusterChoice, ClusterRequirements } from './types.js';
import type { CostConfig } from '../spec/pricing-config.js';
import type { PlacementConfig } from '../spec/placement-config.js';
import { describePlacement, place, type PlacementOptions } from '../placement/select.js';
import { PendingPlacements } from '../placement/pending.js';
import type { Candidate, ClusterView, Exclusion } from '../placement/types.js';

export interface ClusterActivityDeps {
  readonly registry: ClusterRegistry;
  /** The workflow task queue this worker serves; cluster queues are named after it. Default `assay`. */
  readonly taskQueue?: string;
  /** The worker config's quotas: the choice says whether the team has one, so an unlimited team reserves nothing. */
  readonly quotas?: QuotasConfig;
  /** The executor rollout (docs/migration.md); default: every evaluation on Kubernetes. */
  readonly executors?: ExecutorsConfig;
  /** The probe's latest view (docs/multi-cluster.md, e.g. `createClusterViewSource`); absent or null: registry order. */
  readonly view?: () => ClusterView | null | Promise<ClusterView | null>;
  /** The worker config's `cost:` section, for the price term of the score. */
  readonly cost?: CostConfig;
  /** The worker config's `placement:` section: spill-over and lost-cluster bounds handed to the workflow. */
  readonly placement?: Pick<PlacementConfig, 'unschedulableSeconds' | 'lostClusterSeconds'>;
  /** The clock of the pending placements (milliseconds since the epoch); default `Date.now`. */
  readonly now?: () => number;
}

/** A stable number in [0, 100) from the evaluation id: the same id always lands on the same side of a percentage. */
export function rolloutBucket(evaluationId: string): number {
  return (createHash('sha256').update(evaluationId).digest().readUInt32BE(0) / 2 ** 32) * 100;
}

/**
 * The executor an evaluation runs on, and why: the user's entry, else the team's, else the default; a percentage puts
 * that share of evaluation ids (by {@link rolloutBucket}) on Docker.
 */
export function chooseExecutor(
  config: ExecutorsConfig | undefined,
  req: Pick<ClusterRequirements, 'team' | 'user' | 'evaluationId'>,
): { executor: ExecutorKind; why: string } {
  if (config === undefined) return { executor: 'kubernetes', why: 'no executor rollout configured' };
  const byUser = req.user !== undefined ? config.users[req.user] : undefined;
  const rule = byUser ?? config.teams[req.team];
  const whose = byUser !== undefined ? `user ${req.user ?? ''}` : `team ${req.team}`;
  if (rule === undefined) return { executor: config.default, why: 'the default executor' };
  if (typeof rule === 'string') return { executor: rule, why: `executors of ${whose}` };
  const bucket = rolloutBucket(req.evaluationId ?? '');
  return {
    executor: bucket < rule.docker ? 'docker' : 'kubernetes',
    why: `${whose} runs ${rule.docker}% on docker; this evaluation id is at ${bucket.toFixed(1)}%`,
  };
}

/** What selection knows beyond the registry (docs/multi-cluster.md, "Selection"); all optional. */
export interface ChooseClusterOptions extends Omit<PlacementOptions, 'executor'> {
  /** The probe's view of the clusters; absent or null: no probe yet, registry order. */
  view?: ClusterView | null;
}

/**
 * Picks a cluster, or explains why none fits: `place` filters and scores the registry, the best candidate wins, and
 * the choice carries every candidate's score and every exclusion's reason. Pure, so the worker and tests share it.
 *
 * @throws ApplicationFailure `NoClusterAvailable` (not retryable) when no cluster satisfies the requirements;
 *   `NoClusterReady` (retryable) when some do but every one of them is left out by its state.
 */
export function chooseCluster(
  registry: ClusterRegistry,
  req: ClusterRequirements,
  taskQueue: string = workflowTaskQueue,
  executors?: ExecutorsConfig,
  options: ChooseClusterOptions = {},
): ClusterChoice {
  // A cluster asked for by name is taken whatever its executor; otherwise the rollout decides which kind fits.
  const executor = req.name === null ? chooseExecutor(executors, req) : null;
  const placement = avoiding(place(registry, req, options.view, { ...options, executor }), req.avoid);
  const best = placement.candidates[0];
  const chosen = registry.find((c) => c.name === best?.name);
  if (chosen === undefined) {
    const reasons = placement.excluded.map((e) => `${e.name}: ${e.reason}`).join('; ');
    // Some cluster meets the requirements but not in its current state: wait for it (the workflow retries).
    if (placement.excluded.some((e) => e.transient === true)) {
      throw ApplicationFailure.create({
        type: retryableErrorTypes.noClusterReady,
        nonRetryable: false,
        message: `no cluster can take the evaluation now; waiting (${reasons})`,
      });
    }
    throw ApplicationFailure.create({
      type: errorTypes.noCluster,
      nonRetryable: true,
      message: `no cluster satisfies the requirements (${reasons || 'the registry is empty'})`,
    });
  }
  const security = placement.isolation[chosen.name];
  return {
    name: chosen.name,
    taskQueue: clusterTaskQueue(chosen.name, taskQueue),
    namespace: teamNamespace(chosen, req.team),
    runtimeClassName: security?.runtimeClassName ?? chosen.runtimeClassName,
    executor: chosen.executor,
    ...(security !== undefined ? { security } : {}),
    reason: describePlacement(placement, registry),
    candidates: placement.candidates,
    excluded: placement.excluded,
  };
}

/**
 * Moves the clusters an earlier attempt left from the candidates to the exclusions, as transient ones, while another
 * candidate remains; when every candidate is one of them, the placement is kept as it was (the cluster that failed
 * is still the only one that fits, and may do better this time).
 */
export function avoiding<P extends { candidates: Candidate[]; excluded: Exclusion[] }>(
  placement: P,
  avoid: readonly AvoidedCluster[] | undefined,
): P {
  if (avoid === undefined || avoid.length === 0) return placement;
  const reasonOf = new Map(avoid.map((a) => [a.name, a.reason]));
  const kept = placement.candidates.filter((c) => !reasonOf.has(c.name));
  if (kept.length === 0) return placement;
  const left = placement.candidates
    .filter((c) => reasonOf.has(c.name))
    .map((c) => ({ name: c.name, reason: `avoided: ${reasonOf.get(c.name) ?? ''}`, transient: true }));
  return { ...placement, candidates: kept, excluded: [...left, ...placement.excluded] };
}

export function createClusterActivities(deps: ClusterActivityDeps): ClusterActivities {
  const placed = new PendingPlacements();
  return {
    async selectCluster(requirements) {
      const view = (await deps.view?.()) ?? null;
      const now = (deps.now ?? Date.now)();
      const choice = chooseCluster(deps.registry, requirements, deps.taskQueue, deps.executors, {
        view,
        cost: deps.cost,
        pending: view !== null ? placed.pending(view, now) : undefined,
      });
      // Counted until a probe shows it; without a view nothing is counted, so there is nothing to keep.
      if (view !== null) placed.add(choice.name, requirements.resources, now);
      const quota = deps.quotas !== undefined && teamQuotaOf(deps.quotas, requirements.team) !== null;
      const bounds = deps.placement;
      return {
        ...choice,
        ...(quota ? { quota } : {}),
        ...(bounds !== undefined
          ? {
              lostClusterSeconds: bounds.lostClusterSeconds,
              // Spill-over only where there is somewhere to spill to.
              ...((choice.candidates?.length ?? 0) > 1 ? { unschedulableSeconds: bounds.unschedulableSeconds } : {}),
            }
          : {}),
      };
    },
  };
}
