/**
 * Cluster selection (docs/architecture.md, "The evaluation workflow" step 2): filter the registry by the spec's requirements, score what is left, and
 * return the choice (recorded in history as this activity's result).
 */
import { ApplicationFailure } from '@temporalio/common';
import { clusterTaskQueue, workflowTaskQueue } from '../spec/names.js';
import { errorTypes } from '../spec/error-types.js';
import { createHash } from 'node:crypto';
import {
  teamNamespace,
  type ClusterRegistry,
  type ExecutorKind,
  type ExecutorsConfig,
} from '../spec/worker-config.js';
import { teamQuotaOf, type QuotasConfig } from '../spec/quota-config.js';
import type { ClusterActivities, ClusterChoice, ClusterRequirements } from './types.js';
import { resolveIsolation } from '../security/resolve.js';
import type { JobSecurity } from '../spec/job-request.js';

export interface ClusterActivityDeps {
  readonly registry: ClusterRegistry;
  /** The workflow task queue this worker serves; cluster queues are named after it. Default `assay`. */
  readonly taskQueue?: string;
  /** The worker config's quotas: the choice says whether the team has one, so an unlimited team reserves nothing. */
  readonly quotas?: QuotasConfig;
  /** The executor rollout (docs/migration.md); default: every evaluation on Kubernetes. */
  readonly executors?: ExecutorsConfig;
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

/**
 * Picks a cluster, or explains why none fits. Pure, so the worker and tests share it.
 *
 * @throws ApplicationFailure `NoClusterAvailable` (not retryable) when no cluster satisfies the requirements.
 */
export function chooseCluster(
  registry: ClusterRegistry,
  req: ClusterRequirements,
  taskQueue: string = workflowTaskQueue,
  executors?: ExecutorsConfig,
): ClusterChoice {
  const rejected: string[] = [];
  // A cluster asked for by name is taken whatever its executor; otherwise the rollout decides which kind fits.
  const wanted = req.name === null ? chooseExecutor(executors, req) : null;
  const isolation = new Map<string, JobSecurity>();
  const candidates = registry.filter((c) => {
    let why =
      req.name !== null && c.name !== req.name
        ? 'not the requested cluster'
        : wanted !== null && c.executor !== wanted.executor
          ? `executor ${c.executor}, and ${wanted.why} says ${wanted.executor}`
          : c.cordoned
            ? 'cordoned'
            : Object.entries(req.selector).some(([k, v]) => c.labels[k] !== v)
              ? 'labels do not match the selector'
              : req.gpuType !== null && !c.gpuTypes.includes(req.gpuType)
                ? `no ${req.gpuType} GPUs`
                : null;
    if (why === null && req.isolation !== undefined) {
      const resolved = resolveIsolation(c.security, req.isolation);
      if (resolved.ok) {
        // The runtime `default` is the cluster's own runtimeClassName, if it names one.
        const className = resolved.security.runtimeClassName ?? c.runtimeClassName;
        isolation.set(c.name, { ...resolved.security, runtimeClassName: className });
      } else why = resolved.reason;
    }
    if (why !== null) rejected.push(`${c.name}: ${why}`);
    return why === null;
  });
  // Until capacity and pricing are known, the registry's order is the preference; the first candidate wins.
  const chosen = candidates[0];
  if (chosen === undefined) {
    throw ApplicationFailure.create({
      type: errorTypes.noCluster,
      nonRetryable: true,
      message: `no cluster satisfies the requirements (${rejected.join('; ') || 'the registry is empty'})`,
    });
  }
  const security = isolation.get(chosen.name);
  return {
    name: chosen.name,
    taskQueue: clusterTaskQueue(chosen.name, taskQueue),
    namespace: teamNamespace(chosen, req.team),
    runtimeClassName: security?.runtimeClassName ?? chosen.runtimeClassName,
    executor: chosen.executor,
    ...(security !== undefined ? { security } : {}),
    reason:
      candidates.length === 1
        ? `the only cluster that fits${rejected.length > 0 ? ` (${rejected.join('; ')})` : ''}`
        : `first of ${candidates.map((c) => c.name).join(', ')} in registry order`,
  };
}

export function createClusterActivities(deps: ClusterActivityDeps): ClusterActivities {
  return {
    selectCluster(requirements) {
      const choice = chooseCluster(deps.registry, requirements, deps.taskQueue, deps.executors);
      const quota = deps.quotas !== undefined && teamQuotaOf(deps.quotas, requirements.team) !== null;
      return Promise.resolve({ ...choice, ...(quota ? { quota } : {}) });
    },
  };
}
