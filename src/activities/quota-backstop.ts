/**
 * The Kubernetes backstop of the quota policy (docs/quota.md, "The Kubernetes backstop"): each team namespace gets a
 * ResourceQuota and a LimitRange derived from the same policy the quota workflow enforces, and the cluster gets the
 * PriorityClasses `assay-low|normal|high` that evaluation pods run under. Assay's own queue decides what runs; these
 * only make the cluster refuse what slipped past it (another client, a changed policy), and an "exceeded quota" answer
 * is waited out, never a failed evaluation.
 */
import {
  SchedulingV1Api,
  type CoreV1Api,
  type V1LimitRange,
  type V1PriorityClass,
  type V1ResourceQuota,
} from '@kubernetes/client-node';
import { apiClient, apiStatus, orNullOn404, orNullOn409, type KubeClients } from '../kube/clients.js';
import { labelKeys, managedByValue } from '../spec/kube-labels.js';
import { formatBytes, formatMillicores } from '../spec/quantity.js';
import { teamQuotaOf, type QuotasConfig, type TeamQuota } from '../spec/quota-config.js';
import type { Priority } from '../spec/spec-constants.js';

/** Name of the ResourceQuota and the LimitRange Assay keeps in a team namespace. */
export const backstopName = 'assay-quota';

/**
 * The PriorityClasses of evaluation pods. Values are at or below 0, the priority of pods without a class, so Assay
 * never preempts anyone else's workloads: `high` (0, PreemptLowerPriority) preempts `normal` and `low` evaluation
 * pods on a full cluster, `normal` (-500, PreemptLowerPriority) preempts `low`, and `low` (-1000, Never) preempts
 * nothing. A preempted pod is an infrastructure failure, retried as a new attempt.
 */
export const priorityClassSpecs: Readonly<
  Record<Priority, { value: number; preemptionPolicy: 'Never' | 'PreemptLowerPriority' }>
> = {
  low: { value: -1000, preemptionPolicy: 'Never' },
  normal: { value: -500, preemptionPolicy: 'PreemptLowerPriority' },
  high: { value: 0, preemptionPolicy: 'PreemptLowerPriority' },
};

export function priorityClassName(priority: Priority): string {
  return `assay-${priority}`;
}

export function buildPriorityClass(priority: Priority): V1PriorityClass {
  const spec = priorityClassSpecs[priority];
  return {
    apiVersion: 'scheduling.k8s.io/v1',
    kind: 'PriorityClass',
    metadata: { name: priorityClassName(priority), labels: { [labelKeys.managedBy]: managedByValue } },
    value: spec.value,
    preemptionPolicy: spec.preemptionPolicy,
    globalDefault: false,
    description: `Assay evaluations of priority ${priority} (docs/quota.md)`,
  };
}

const labels = (team: string): Record<string, string> => ({
  [labelKeys.managedBy]: managedByValue,
  [labelKeys.team]: team,
});

/** The team's ResourceQuota: pods, CPU and memory requests, GPUs, as the policy says; null when nothing is limited. */
export function buildResourceQuota(
  namespace: string,
  team: string,
  quota: TeamQuota,
): V1ResourceQuota | null {
  const hard: Record<string, string> = {};
  if (quota.maxRunning !== undefined) hard.pods = String(quota.maxRunning);
  if (quota.cpu !== undefined) hard['requests.cpu'] = formatMillicores(quota.cpu);
  if (quota.memory !== undefined) hard['requests.memory'] = formatBytes(quota.memory, true);
  if (quota.gpu !== undefined)
    hard['requests.nvidia.com/gpu'] = String(Object.values(quota.gpu).reduce((a, b) => a + b, 0));
  if (Object.keys(hard).length === 0) return null;
  return {
    apiVersion: 'v1',
    kind: 'ResourceQuota',
    metadata: { name: backstopName, namespace, labels: labels(team) },
    spec: { hard },
  };
}

/** The team's LimitRange: no container may ask for more than the team's whole quota. */
export function buildLimitRange(namespace: string, team: string, quota: TeamQuota): V1LimitRange | null {
  const max: Record<string, string> = {};
  if (quota.cpu !== undefined) max.cpu = formatMillicores(quota.cpu);
  if (quota.memory !== undefined) max.memory = formatBytes(quota.memory, true);
  if (Object.keys(max).length === 0) return null;
  return {
    apiVersion: 'v1',
    kind: 'LimitRange',
    metadata: { name: backstopName, namespace, labels: labels(team) },
    spec: { limits: [{ type: 'Container', max }] },
  };
}

type Kind = 'ResourceQuota' | 'LimitRange';

async function sync(
  core: CoreV1Api,
  kind: Kind,
  namespace: string,
  desired: V1ResourceQuota | V1LimitRange | null,
): Promise<void> {
  const name = backstopName;
  const current =
    kind === 'ResourceQuota'
      ? await orNullOn404(core.readNamespacedResourceQuota({ name, namespace }))
      : await orNullOn404(core.readNamespacedLimitRange({ name, namespace }));
  if (desired === null) {
    if (current === null || current.metadata?.labels?.[labelKeys.managedBy] !== managedByValue) return;
    if (kind === 'ResourceQuota') await orNullOn404(core.deleteNamespacedResourceQuota({ name, namespace }));
    else await orNullOn404(core.deleteNamespacedLimitRange({ name, namespace }));
    return;
  }
  if (current === null) {
    // Another worker may make it meanwhile (409): the next sync (another namespace set-up) compares it.
    if (kind === 'ResourceQuota')
      await orNullOn409(core.createNamespacedResourceQuota({ namespace, body: desired as V1ResourceQuota }));
    else await orNullOn409(core.createNamespacedLimitRange({ namespace, body: desired as V1LimitRange }));
    return;
  }
  if (JSON.stringify(current.spec) === JSON.stringify(desired.spec)) return;
  const body = {
    ...desired,
    metadata: { ...desired.metadata, resourceVersion: current.metadata?.resourceVersion },
  };
  try {
    if (kind === 'ResourceQuota')
      await core.replaceNamespacedResourceQuota({ name, namespace, body: body as V1ResourceQuota });
    else await core.replaceNamespacedLimitRange({ name, namespace, body: body as V1LimitRange });
  } catch (err) {
    if (apiStatus(err) !== 409) throw err;
  }
}

export interface TeamBackstop {
  /** Makes the PriorityClasses exist (once per process) and the team namespace's ResourceQuota and LimitRange match the policy. */
  ensure(namespace: string, team: string): Promise<void>;
}

export function createTeamBackstop(kube: KubeClients, quotas: QuotasConfig): TeamBackstop {
  const scheduling = apiClient(kube, SchedulingV1Api);
  let classes: Promise<void> | null = null;
  const ensureClasses = async (): Promise<void> => {
    for (const priority of Object.keys(priorityClassSpecs) as Priority[]) {
      const name = priorityClassName(priority);
      if ((await orNullOn404(scheduling.readPriorityClass({ name }))) !== null) continue;
      await orNullOn409(scheduling.createPriorityClass({ body: buildPriorityClass(priority) }));
    }
  };
  return {
    async ensure(namespace, team) {
      classes ??= ensureClasses().catch((err: unknown) => {
        classes = null;
        throw err;
      });
      await classes;
      const quota = teamQuotaOf(quotas, team);
      await sync(kube.core, 'ResourceQuota', namespace, quota && buildResourceQuota(namespace, team, quota));
      await sync(kube.core, 'LimitRange', namespace, quota && buildLimitRange(namespace, team, quota));
    },
  };
}
