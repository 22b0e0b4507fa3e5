import { describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { chooseCluster, createClusterActivities } from '../../../src/activities/cluster.js';
import { splitStreamsEnabled } from '../../../src/activities/logs.js';
import { clusterRegistrySchema } from '../../../src/spec/worker-config.js';

const registry = clusterRegistrySchema.parse([
  { name: 'east', labels: { region: 'east' }, cordoned: true },
  { name: 'west', labels: { region: 'west' }, gpuTypes: ['a100'], namespaceTemplate: 'evals-{team}' },
  { name: 'north', labels: { region: 'north' } },
]);
const any = { team: 'ml', name: null, selector: {}, gpuType: null };

describe('chooseCluster', () => {
  it('skips cordoned clusters and names the queue and namespace', () => {
    expect(chooseCluster(registry, any)).toMatchObject({
      name: 'west',
      taskQueue: 'assay-cluster-west',
      namespace: 'evals-ml',
    });
  });

  it('honours name, selector and GPU type', () => {
    expect(chooseCluster(registry, { ...any, name: 'north' }).name).toBe('north');
    expect(chooseCluster(registry, { ...any, selector: { region: 'north' } }).name).toBe('north');
    expect(chooseCluster(registry, { ...any, gpuType: 'a100' }).name).toBe('west');
    expect(chooseCluster(registry, any, 'assay-test').taskQueue).toBe('assay-test-cluster-west');
  });

  it('explains why no cluster fits, as a non-retryable NoClusterAvailable', () => {
    let error: unknown;
    try {
      chooseCluster(registry, { ...any, name: 'east' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect(error).toMatchObject({ type: 'NoClusterAvailable', nonRetryable: true });
    expect((error as Error).message).toContain('east: cordoned');
  });
});

describe('avoiding the clusters an earlier attempt left', () => {
  const open = clusterRegistrySchema.parse([
    { name: 'a', labels: { region: 'a' } },
    { name: 'b', labels: { region: 'b' } },
  ]);

  it('places on another cluster and says why the avoided one was left out', () => {
    const choice = chooseCluster(open, { ...any, avoid: [{ name: 'a', reason: 'attempt 1 Unschedulable' }] });
    expect(choice.name).toBe('b');
    expect(choice.candidates?.map((c) => c.name)).toEqual(['b']);
    expect(choice.excluded).toContainEqual({
      name: 'a',
      reason: 'avoided: attempt 1 Unschedulable',
      transient: true,
    });
  });

  it('keeps the avoided cluster when it is the only one that fits', () => {
    const choice = chooseCluster(open, {
      ...any,
      selector: { region: 'a' },
      avoid: [{ name: 'a', reason: 'attempt 1 ClusterUnreachable' }],
    });
    expect(choice.name).toBe('a');
    expect(choice.excluded?.some((e) => e.reason.startsWith('avoided'))).toBe(false);
  });

  it('hands the placement bounds to the workflow, spill-over only where another cluster fits', async () => {
    const activities = createClusterActivities({
      registry: open,
      placement: { unschedulableSeconds: 30, lostClusterSeconds: 60 },
    });
    const both = await activities.selectCluster(any);
    expect(both).toMatchObject({ name: 'a', unschedulableSeconds: 30, lostClusterSeconds: 60 });
    const one = await activities.selectCluster({ ...any, selector: { region: 'b' } });
    expect(one.lostClusterSeconds).toBe(60);
    expect(one.unschedulableSeconds).toBeUndefined();
    const spilled = await activities.selectCluster({ ...any, avoid: [{ name: 'a', reason: 'x' }] });
    expect(spilled.name).toBe('b');
    expect(spilled.unschedulableSeconds).toBeUndefined();
  });
});

describe('splitStreamsEnabled', () => {
  it('reads the feature-gate metric', () => {
    const on = 'kubernetes_feature_enabled{name="PodLogsQuerySplitStreams",stage="ALPHA"} 1\n';
    const off = 'kubernetes_feature_enabled{name="PodLogsQuerySplitStreams",stage="ALPHA"} 0\n';
    expect(splitStreamsEnabled(on)).toBe(true);
    expect(splitStreamsEnabled(off)).toBe(false);
    expect(splitStreamsEnabled('')).toBe(false);
  });
});
