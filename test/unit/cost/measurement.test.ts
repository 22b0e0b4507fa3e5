import { describe, expect, it } from '@jest/globals';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { createAttemptMeter } from '../../../src/cost/attempt-meter.js';
import { createNodeUsageSampler } from '../../../src/cost/usage.js';
import { annotationKeys } from '../../../src/spec/kube-labels.js';

function summary(pods: { name: string; cpuNs: number; memory: number }[]): unknown {
  return {
    node: { nodeName: 'n1' },
    pods: pods.map((p) => ({
      podRef: { name: p.name, namespace: 'ns' },
      containers: [
        { name: 'main', cpu: { usageCoreNanoSeconds: p.cpuNs }, memory: { workingSetBytes: p.memory } },
        { name: 'collector', memory: { workingSetBytes: 1 } },
      ],
      'ephemeral-storage': { usedBytes: 4096 },
    })),
  };
}

const until = async (check: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
};

describe('node usage sampler', () => {
  it('reads each node once per interval for every attempt on it, and stops when none is left', async () => {
    let reads = 0;
    let memory = 100;
    const sampler = createNodeUsageSampler({
      intervalMs: 20,
      readSummary: (node) => {
        reads++;
        expect(node).toBe('n1');
        return Promise.resolve(
          JSON.stringify(
            summary([
              { name: 'a', cpuNs: 2e9, memory },
              { name: 'b', cpuNs: 1e9, memory: 7 },
            ]),
          ),
        );
      },
    });
    const seen: Record<string, number[]> = { a: [], b: [] };
    const stopA = sampler.track({ node: 'n1', namespace: 'ns', pod: 'a', container: 'main' }, (s) =>
      seen.a!.push(s.memoryBytes!),
    );
    const stopB = sampler.track({ node: 'n1', namespace: 'ns', pod: 'b', container: 'main' }, (s) =>
      seen.b!.push(s.memoryBytes!),
    );
    memory = 300;
    await until(() => seen.b!.length >= 3);
    // Both attempts are fed by the same reads.
    expect(reads).toBeLessThanOrEqual(seen.a!.length + 1);
    expect(seen.a).toContain(300);
    stopA();
    stopB();
    const after = reads;
    await new Promise((r) => setTimeout(r, 60));
    expect(reads).toBe(after);
    sampler.stopAll();
  });
});

describe('attempt meter', () => {
  const pod = (phase: 'pending' | 'running'): V1Pod => ({
    metadata: { name: 'a', namespace: 'ns', annotations: { [annotationKeys.gpuType]: 'a100' } },
    spec: {
      nodeName: 'n1',
      containers: [
        {
          name: 'main',
          resources: {
            requests: { cpu: '250m', memory: '64Mi', 'ephemeral-storage': '1Gi', 'nvidia.com/gpu': '2' },
            limits: { memory: '128Mi', 'nvidia.com/gpu': '2' },
          },
        },
      ],
    },
    status: {
      containerStatuses: [
        {
          name: 'main',
          image: 'x',
          imageID: 'x',
          ready: phase === 'running',
          restartCount: 0,
          state: phase === 'running' ? { running: { startedAt: new Date() } } : { waiting: {} },
        },
      ],
    },
  });

  it('reads the node once for spot, samples while running, keeps the peak, resumes from a checkpoint', async () => {
    let nodeReads = 0;
    const memory = [50e6, 90e6, 70e6];
    let i = 0;
    const sampler = createNodeUsageSampler({
      intervalMs: 10,
      readSummary: () =>
        Promise.resolve(summary([{ name: 'a', cpuNs: (i + 1) * 1e9, memory: memory[Math.min(i++, 2)]! }])),
    });
    const meter = createAttemptMeter(
      {
        sampler,
        readNode: () => {
          nodeReads++;
          return Promise.resolve({
            metadata: { labels: { 'karpenter.sh/capacity-type': 'spot' } },
          } as V1Node);
        },
        spotLabels: [{ key: 'karpenter.sh/capacity-type', values: ['spot'] }],
      },
      { container: 'main', resume: { peakMemoryBytes: 120e6, samples: 4 } },
    );
    meter.observe(pod('pending'));
    meter.observe(pod('running'));
    meter.observe(pod('running'));
    await until(() => meter.checkpoint().samples >= 7);
    const m = (await meter.finish(new Date('2026-01-01T00:00:00Z')))!;
    sampler.stopAll();
    expect(nodeReads).toBe(1);
    expect(m).toMatchObject({
      node: 'n1',
      spot: true,
      spotLabel: 'karpenter.sh/capacity-type=spot',
      requests: { cpuCores: 0.25, memoryBytes: 64 * 2 ** 20, ephemeralStorageBytes: 2 ** 30 },
      limits: { cpuCores: null, memoryBytes: 128 * 2 ** 20 },
      gpu: { count: 2, type: 'a100' },
      observedEndAt: '2026-01-01T00:00:00.000Z',
    });
    // The resumed peak (120 MB) beats every new sample.
    expect(m.usage.peakMemoryBytes).toBe(120e6);
    expect(m.usage.cpuCoreSeconds).toBeGreaterThanOrEqual(3);
    expect(m.usage.peakEphemeralStorageBytes).toBe(4096);
  });
});
