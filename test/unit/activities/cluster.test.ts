import { describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { chooseCluster } from '../../../src/activities/cluster.js';
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

describe('splitStreamsEnabled', () => {
  it('reads the feature-gate metric', () => {
    const on = 'kubernetes_feature_enabled{name="PodLogsQuerySplitStreams",stage="ALPHA"} 1\n';
    const off = 'kubernetes_feature_enabled{name="PodLogsQuerySplitStreams",stage="ALPHA"} 0\n';
    expect(splitStreamsEnabled(on)).toBe(true);
    expect(splitStreamsEnabled(off)).toBe(false);
    expect(splitStreamsEnabled('')).toBe(false);
  });
});
