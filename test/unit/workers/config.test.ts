import { describe, expect, it } from '@jest/globals';
import { loadWorkerConfig, WorkerConfigError } from '../../../src/workers/config.js';

describe('loadWorkerConfig', () => {
  it('without a file serves the cluster `local` through $KUBECONFIG', () => {
    const config = loadWorkerConfig({ TEMPORAL_ADDRESS: '127.0.0.1:17233', KUBECONFIG: '/tmp/kc' }, () => '');
    expect(config.temporal).toEqual({ address: '127.0.0.1:17233', namespace: 'default' });
    expect(config.taskQueue).toBe('assay');
    expect(config.clusters).toEqual([
      expect.objectContaining({
        name: 'local',
        kubeconfig: { path: '/tmp/kc', context: null },
        splitLogStreams: 'auto',
      }),
    ]);
  });

  it('reads a YAML file, overlaid with the environment', () => {
    const file = [
      'temporal: { address: "temporal:7233", namespace: evals }',
      'shutdownGraceSeconds: 5',
      'clusters:',
      '  - { name: gpu, inCluster: true, gpuTypes: [a100] }',
    ].join('\n');
    const config = loadWorkerConfig(
      { ASSAY_WORKER_CONFIG: '/etc/assay.yaml', TEMPORAL_NAMESPACE: 'prod', ASSAY_TASK_QUEUE: 'assay-x' },
      () => file,
    );
    expect(config.temporal).toEqual({ address: 'temporal:7233', namespace: 'prod' });
    expect(config.taskQueue).toBe('assay-x');
    expect(config.shutdownGraceSeconds).toBe(5);
    expect(config.clusters[0]).toMatchObject({ name: 'gpu', inCluster: true, gpuTypes: ['a100'] });
  });

  it('names every invalid field', () => {
    const file = 'clusters:\n  - { name: Bad_Name, namespaceTemplate: fixed }\nshutdownGraceSeconds: -1\n';
    let error: unknown;
    try {
      loadWorkerConfig({ ASSAY_WORKER_CONFIG: 'w.yaml' }, () => file);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WorkerConfigError);
    const message = (error as Error).message;
    expect(message).toContain('clusters.0.name');
    expect(message).toContain('clusters.0.namespaceTemplate');
    expect(message).toContain('shutdownGraceSeconds');
  });

  it('says when the file cannot be read', () => {
    expect(() =>
      loadWorkerConfig({ ASSAY_WORKER_CONFIG: '/nope.yaml' }, () => {
        throw new Error('ENOENT');
      }),
    ).toThrow('cannot read worker config /nope.yaml');
  });
});
