import { describe, expect, it } from '@jest/globals';
import {
  clusterCapacity,
  evaluationPodCounts,
  gpuTypeOf,
  nodeUnschedulableReason,
  podRequests,
  quantityMillis,
  quantityUnits,
  teamNamespacePattern,
  type NodeLike,
  type PodLike,
} from '../../../src/placement/capacity.js';

const gi = 1024 ** 3;

function node(name: string, allocatable: Record<string, string>, extra: Partial<NodeLike> = {}): NodeLike {
  return {
    metadata: { name, labels: {} },
    spec: {},
    status: { allocatable, conditions: [{ type: 'Ready', status: 'True' }] },
    ...extra,
  };
}

function pod(
  nodeName: string | null,
  requests: Record<string, string>,
  options: { phase?: string; namespace?: string; labels?: Record<string, string> } = {},
): PodLike {
  return {
    metadata: { namespace: options.namespace ?? 'kube-system', labels: options.labels ?? {} },
    spec: { nodeName, containers: [{ resources: { requests } }] },
    status: { phase: options.phase ?? 'Running' },
  };
}

describe('quantities in the units of the view', () => {
  it('reads CPU in millicores and memory and devices in whole units, rounded up as the scheduler counts', () => {
    expect(quantityMillis('100m')).toBe(100);
    expect(quantityMillis('2')).toBe(2000);
    expect(quantityMillis('1.5')).toBe(1500);
    expect(quantityMillis('250u')).toBe(1);
    expect(quantityUnits('1Gi')).toBe(gi);
    expect(quantityUnits('16331276Ki')).toBe(16331276 * 1024);
    expect(quantityUnits('1k')).toBe(1000);
    expect(quantityUnits('1e3')).toBe(1000);
    expect(quantityUnits('4')).toBe(4);
    expect(quantityUnits('0.5')).toBe(1);
  });

  it('counts absent, garbage and negative values as 0', () => {
    expect(quantityMillis(undefined)).toBe(0);
    expect(quantityMillis(null)).toBe(0);
    expect(quantityMillis('lots')).toBe(0);
    expect(quantityUnits('-1Gi')).toBe(0);
    expect(quantityUnits('')).toBe(0);
  });
});

describe('podRequests', () => {
  it('sums the containers, takes the larger of that and the largest init container, and adds the overhead', () => {
    const p: PodLike = {
      spec: {
        containers: [
          { resources: { requests: { cpu: '100m', memory: '64Mi' } } },
          { resources: { requests: { cpu: '50m', 'nvidia.com/gpu': '1' } } },
          { resources: null },
        ],
        initContainers: [
          { resources: { requests: { cpu: '1', memory: '32Mi' } } },
          { restartPolicy: 'Always', resources: { requests: { cpu: '10m', memory: '16Mi' } } },
        ],
        overhead: { cpu: '5m', memory: '1Mi' },
      },
    };
    // cpu: max(100+50+10 sidecar, 1000 init) + 5; memory: max(64+16, 32) + 1 (MiB).
    expect(podRequests(p)).toEqual({ cpuMillis: 1005, memoryBytes: 81 * 1024 ** 2, gpus: 1 });
    expect(podRequests({})).toEqual({ cpuMillis: 0, memoryBytes: 0, gpus: 0 });
  });
});

describe('nodeUnschedulableReason', () => {
  it('names a cordoned, not Ready or tainted node, and passes a schedulable one', () => {
    expect(nodeUnschedulableReason(node('a', {}))).toBeNull();
    expect(nodeUnschedulableReason(node('a', {}, { spec: { unschedulable: true } }))).toBe('cordoned');
    expect(
      nodeUnschedulableReason({
        ...node('a', {}),
        status: { conditions: [{ type: 'Ready', status: 'Unknown' }] },
      }),
    ).toBe('not Ready');
    expect(nodeUnschedulableReason({ metadata: { name: 'a' } })).toBe('not Ready');
    expect(
      nodeUnschedulableReason(
        node(
          'a',
          {},
          { spec: { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] } },
        ),
      ),
    ).toBe('tainted node-role.kubernetes.io/control-plane:NoSchedule');
    expect(
      nodeUnschedulableReason(
        node('a', {}, { spec: { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] } }),
      ),
    ).toBeNull();
  });
});

describe('gpuTypeOf', () => {
  const label = 'nvidia.com/gpu.product';
  const labelled = (value: string): NodeLike => ({ metadata: { labels: { [label]: value } } });
  it('maps the label to a registry GPU type it contains, else keeps the label, else the only type, else gpu', () => {
    expect(
      gpuTypeOf(labelled('NVIDIA-A100-SXM4-40GB'), { gpuTypeLabel: label, gpuTypes: ['h100', 'a100'] }),
    ).toBe('a100');
    expect(gpuTypeOf(labelled('Tesla-T4'), { gpuTypeLabel: label, gpuTypes: ['a100'] })).toBe('Tesla-T4');
    expect(gpuTypeOf({}, { gpuTypeLabel: label, gpuTypes: ['l4'] })).toBe('l4');
    expect(gpuTypeOf({}, { gpuTypeLabel: label, gpuTypes: ['l4', 'a100'] })).toBe('gpu');
    expect(gpuTypeOf({}, { gpuTypeLabel: label, gpuTypes: [] })).toBe('gpu');
  });
});

describe('clusterCapacity', () => {
  const options = { gpuTypeLabel: 'nvidia.com/gpu.product', gpuTypes: ['a100'] };

  it('is allocatable minus the requests bound to each schedulable node, floored per node, GPUs by type', () => {
    const nodes = [
      node('n1', { cpu: '4', memory: '8Gi', pods: '110' }),
      node(
        'n2',
        { cpu: '8', memory: '16Gi', 'nvidia.com/gpu': '4' },
        {
          metadata: { name: 'n2', labels: { 'nvidia.com/gpu.product': 'NVIDIA-A100-PCIE' } },
        },
      ),
      node('cordoned', { cpu: '64', memory: '64Gi' }, { spec: { unschedulable: true } }),
    ];
    const pods = [
      pod('n1', { cpu: '1500m', memory: '1Gi' }),
      pod('n1', { cpu: '500m' }),
      pod('n2', { cpu: '10', memory: '1Gi', 'nvidia.com/gpu': '1' }),
      // Holds nothing: not scheduled, or ended (a list without the field selector may hold those).
      pod(null, { cpu: '2' }, { phase: 'Pending' }),
      pod('n1', { cpu: '2' }, { phase: 'Succeeded' }),
      // On a node that takes no evaluation: not counted anywhere.
      pod('cordoned', { cpu: '1' }),
    ];
    const summary = clusterCapacity(nodes, pods, options);
    expect(summary.capacity).toEqual({
      cpuMillis: { total: 12_000, free: 2000 + 0 },
      memoryBytes: { total: 24 * gi, free: 7 * gi + 15 * gi },
      gpus: { a100: { total: 4, free: 3 } },
    });
    expect(summary.nodes).toEqual({ total: 3, schedulable: 2 });
    expect(summary.largestFree).toEqual({ cpuMillis: 2000, memoryBytes: 15 * gi, gpus: { a100: 3 } });
  });

  it('is zero without schedulable nodes', () => {
    expect(clusterCapacity([], [], options)).toEqual({
      capacity: { cpuMillis: { free: 0, total: 0 }, memoryBytes: { free: 0, total: 0 }, gpus: {} },
      nodes: { total: 0, schedulable: 0 },
      largestFree: { cpuMillis: 0, memoryBytes: 0, gpus: {} },
    });
  });
});

describe('evaluationPodCounts', () => {
  const assay = { 'app.kubernetes.io/managed-by': 'assay', 'assay.dev/evaluation-id': 'e1' };

  it("counts Assay's pods in team namespaces: Running as running, Pending as queued", () => {
    const pods = [
      pod('n1', {}, { namespace: 'assay-research', labels: assay }),
      pod(null, {}, { namespace: 'assay-research', labels: assay, phase: 'Pending' }),
      pod('n1', {}, { namespace: 'assay-vision', labels: assay, phase: 'Pending' }),
      // Not Assay's evaluation pods, or not in a team namespace.
      pod('n1', {}, { namespace: 'assay-research', labels: { 'app.kubernetes.io/managed-by': 'assay' } }),
      pod('n1', {}, { namespace: 'assay-research', labels: { app: 'other' } }),
      pod('n1', {}, { namespace: 'default', labels: assay }),
      pod('n1', {}, { namespace: 'assay-research', labels: assay, phase: 'Unknown' }),
    ];
    expect(evaluationPodCounts(pods, 'assay-{team}')).toEqual({ running: 1, queued: 2 });
  });

  it('matches the namespaces of any template', () => {
    const pattern = teamNamespacePattern('eval.{team}-ns');
    expect(pattern.test('eval.research-ns')).toBe(true);
    expect(pattern.test('evalxresearch-ns')).toBe(false);
    expect(pattern.test('eval.-ns')).toBe(false);
  });
});
