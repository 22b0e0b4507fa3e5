/**
 * Capacity of a cluster from one LIST of its nodes and one LIST of its non-terminated pods (docs/multi-cluster.md,
 * "Health and capacity"): per schedulable Ready node, allocatable minus the requests of the pods bound to it, summed;
 * and how many of Assay's evaluation pods run or wait. Pure functions over the API's JSON: no Node built-ins, no
 * clients, so the unit tests feed them plain objects.
 */
import { parseQuantity } from '../spec/quantity.js';
import { labelKeys, managedByValue } from '../spec/kube-labels.js';
import type { Capacity, ClusterHealth } from './types.js';

/** The extended resource counted as GPUs. */
export const gpuResource = 'nvidia.com/gpu';
/** The GPU type of a node that says nothing more. */
export const untypedGpu = 'gpu';

/** What the probe reads of a node (the API's JSON). */
export interface NodeLike {
  metadata?: { name?: string; labels?: Record<string, string> | null } | null;
  spec?: { unschedulable?: boolean | null; taints?: { key: string; effect: string }[] | null } | null;
  status?: {
    allocatable?: Record<string, string> | null;
    conditions?: { type: string; status: string }[] | null;
  } | null;
}

interface ContainerLike {
  resources?: { requests?: Record<string, string> | null } | null;
}

/** What the probe reads of a pod (the API's JSON). */
export interface PodLike {
  metadata?: { namespace?: string; labels?: Record<string, string> | null } | null;
  spec?: {
    nodeName?: string | null;
    containers?: ContainerLike[] | null;
    initContainers?: (ContainerLike & { restartPolicy?: string | null })[] | null;
    overhead?: Record<string, string> | null;
  } | null;
  status?: { phase?: string | null } | null;
}

/** One pod's or node's amounts in Assay's units. */
export interface Amounts {
  cpuMillis: number;
  memoryBytes: number;
  gpus: number;
}

const zero = (): Amounts => ({ cpuMillis: 0, memoryBytes: 0, gpus: 0 });

/**
 * A quantity in thousandths (`"1500m"` → 1500, `"2"` → 2000); rounded up, as the scheduler counts requests. 0 for
 * an absent or unparsable value: the API server only stores valid quantities.
 */
export function quantityMillis(text: string | undefined | null): number {
  if (text === undefined || text === null) return 0;
  const parsed = parseQuantity(text);
  if (!parsed.ok || parsed.value.nanos <= 0n) return 0;
  return Number((parsed.value.nanos + 999_999n) / 1_000_000n);
}

/** A quantity in whole units (`"1Gi"` → 1073741824, `"1"` → 1), rounded up; 0 for an absent or unparsable value. */
export function quantityUnits(text: string | undefined | null): number {
  if (text === undefined || text === null) return 0;
  const parsed = parseQuantity(text);
  if (!parsed.ok || parsed.value.nanos <= 0n) return 0;
  return Number((parsed.value.nanos + 999_999_999n) / 1_000_000_000n);
}

function amountsOf(list: Record<string, string> | null | undefined): Amounts {
  return {
    cpuMillis: quantityMillis(list?.cpu),
    memoryBytes: quantityUnits(list?.memory),
    gpus: quantityUnits(list?.[gpuResource]),
  };
}

const add = (a: Amounts, b: Amounts): Amounts => ({
  cpuMillis: a.cpuMillis + b.cpuMillis,
  memoryBytes: a.memoryBytes + b.memoryBytes,
  gpus: a.gpus + b.gpus,
});
const max = (a: Amounts, b: Amounts): Amounts => ({
  cpuMillis: Math.max(a.cpuMillis, b.cpuMillis),
  memoryBytes: Math.max(a.memoryBytes, b.memoryBytes),
  gpus: Math.max(a.gpus, b.gpus),
});

/**
 * What a pod holds on its node, as the scheduler counts it: the larger of its containers' requests (with sidecar
 * init containers, `restartPolicy: Always`) and its largest ordinary init container, plus the pod overhead.
 */
export function podRequests(pod: PodLike): Amounts {
  const spec: NonNullable<PodLike['spec']> = pod.spec ?? {};
  const inits = spec.initContainers ?? [];
  const sidecars = inits.filter((c) => c.restartPolicy === 'Always');
  let running = zero();
  for (const c of [...(spec.containers ?? []), ...sidecars])
    running = add(running, amountsOf(c.resources?.requests));
  let init = zero();
  for (const c of inits) if (c.restartPolicy !== 'Always') init = max(init, amountsOf(c.resources?.requests));
  return add(max(running, init), amountsOf(spec.overhead));
}

/** Why a node takes no evaluation pod (cordoned, not Ready, a NoSchedule/NoExecute taint), or null when it does. */
export function nodeUnschedulableReason(node: NodeLike): string | null {
  if (node.spec?.unschedulable === true) return 'cordoned';
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') return 'not Ready';
  // Evaluation pods tolerate no taint (src/activities/job-manifest.ts).
  const taint = (node.spec?.taints ?? []).find((t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute');
  if (taint !== undefined) return `tainted ${taint.key}:${taint.effect}`;
  return null;
}

/**
 * The GPU type of a node's `nvidia.com/gpu` devices: a registry type its `gpuTypeLabel` value contains
 * (`NVIDIA-A100-SXM4-40GB` → `a100`), else that value itself, else the entry's only GPU type, else `gpu`.
 */
export function gpuTypeOf(
  node: NodeLike,
  options: { gpuTypeLabel: string; gpuTypes: readonly string[] },
): string {
  const value = node.metadata?.labels?.[options.gpuTypeLabel];
  if (value !== undefined && value !== '') {
    const lower = value.toLowerCase();
    return options.gpuTypes.find((t) => lower.includes(t.toLowerCase())) ?? value;
  }
  return options.gpuTypes.length === 1 && options.gpuTypes[0] !== undefined
    ? options.gpuTypes[0]
    : untypedGpu;
}

/** A cluster's capacity as the view holds it, plus the node counts and the most any one node has free. */
export interface CapacitySummary {
  capacity: ClusterHealth['capacity'];
  nodes: { total: number; schedulable: number };
  /** Per resource, the most free on any one schedulable node (not necessarily the same node for each resource). */
  largestFree: { cpuMillis: number; memoryBytes: number; gpus: Record<string, number> };
}

/**
 * Allocatable minus requested over the schedulable Ready nodes, per node floored at 0 and then summed. Pods count
 * against the node they are bound to (`spec.nodeName`); a pod not yet scheduled holds nothing. `pods` are the
 * non-terminated ones (the probe lists with `status.phase!=Succeeded,status.phase!=Failed`).
 */
export function clusterCapacity(
  nodes: readonly NodeLike[],
  pods: readonly PodLike[],
  options: { gpuTypeLabel: string; gpuTypes: readonly string[] },
): CapacitySummary {
  const requested = new Map<string, Amounts>();
  for (const pod of pods) {
    const node = pod.spec?.nodeName;
    if (node === undefined || node === null || node === '') continue;
    const phase = pod.status?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') continue;
    requested.set(node, add(requested.get(node) ?? zero(), podRequests(pod)));
  }
  const cpu: Capacity = { free: 0, total: 0 };
  const memory: Capacity = { free: 0, total: 0 };
  const gpus: Record<string, Capacity> = {};
  const largestFree: CapacitySummary['largestFree'] = { cpuMillis: 0, memoryBytes: 0, gpus: {} };
  let schedulable = 0;
  for (const node of nodes) {
    if (nodeUnschedulableReason(node) !== null) continue;
    schedulable++;
    const allocatable = amountsOf(node.status?.allocatable);
    const used = requested.get(node.metadata?.name ?? '') ?? zero();
    const free = {
      cpuMillis: Math.max(0, allocatable.cpuMillis - used.cpuMillis),
      memoryBytes: Math.max(0, allocatable.memoryBytes - used.memoryBytes),
      gpus: Math.max(0, allocatable.gpus - used.gpus),
    };
    cpu.total += allocatable.cpuMillis;
    cpu.free += free.cpuMillis;
    memory.total += allocatable.memoryBytes;
    memory.free += free.memoryBytes;
    largestFree.cpuMillis = Math.max(largestFree.cpuMillis, free.cpuMillis);
    largestFree.memoryBytes = Math.max(largestFree.memoryBytes, free.memoryBytes);
    if (allocatable.gpus > 0) {
      const type = gpuTypeOf(node, options);
      const g = (gpus[type] ??= { free: 0, total: 0 });
      g.total += allocatable.gpus;
      g.free += free.gpus;
      largestFree.gpus[type] = Math.max(largestFree.gpus[type] ?? 0, free.gpus);
    }
  }
  return {
    capacity: { cpuMillis: cpu, memoryBytes: memory, gpus },
    nodes: { total: nodes.length, schedulable },
    largestFree,
  };
}

/** A regular expression matching the namespaces a `namespaceTemplate` (`assay-{team}`) makes. */
export function teamNamespacePattern(namespaceTemplate: string): RegExp {
  const parts = namespaceTemplate.split('{team}').map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${parts.join('[a-z0-9]([-a-z0-9]*[a-z0-9])?')}$`);
}

/**
 * Assay's evaluation pods among `pods`: labelled `app.kubernetes.io/managed-by=assay` with an evaluation id, in a
 * team namespace of the entry's template; running (phase Running) and queued (Pending: not yet scheduled or started).
 */
export function evaluationPodCounts(
  pods: readonly PodLike[],
  namespaceTemplate: string,
): { running: number; queued: number } {
  const teamNamespace = teamNamespacePattern(namespaceTemplate);
  let running = 0;
  let queued = 0;
  for (const pod of pods) {
    const labels = pod.metadata?.labels ?? {};
    if (labels[labelKeys.managedBy] !== managedByValue || labels[labelKeys.evaluationId] === undefined)
      continue;
    if (!teamNamespace.test(pod.metadata?.namespace ?? '')) continue;
    if (pod.status?.phase === 'Running') running++;
    else if (pod.status?.phase === 'Pending') queued++;
  }
  return { running, queued };
}
