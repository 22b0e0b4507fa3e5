import { describe, expect, it } from '@jest/globals';
import { collectorImage } from '../../../src/stack/images/catalog.js';
import { imageRef } from '../../../src/stack/images/local-images.js';
import { loadWorkerConfig, localStackCollector, WorkerConfigError } from '../../../src/workers/config.js';

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
        collector: { image: 'localhost/assay/collector:1', imagePullPolicy: 'Never' },
      }),
    ]);
    expect(config.logLevel).toBe('info');
    expect(config.workflowBundle).toBeNull();
    expect(config.retention).toEqual({ setup: true, sweepEveryMinutes: 60 });
  });

  it("gives the default cluster the local stack's own collector image", () => {
    expect(localStackCollector.image).toBe(imageRef(collectorImage));
  });

  it("takes the default cluster's collector from the environment, pulled when present", () => {
    const config = loadWorkerConfig({ ASSAY_COLLECTOR_IMAGE: 'reg.example/collector:2' }, () => '');
    expect(config.clusters[0]?.collector).toEqual({
      image: 'reg.example/collector:2',
      imagePullPolicy: 'IfNotPresent',
    });
    const never = loadWorkerConfig(
      { ASSAY_COLLECTOR_IMAGE: 'reg.example/collector:2', ASSAY_COLLECTOR_PULL_POLICY: 'Never' },
      () => '',
    );
    expect(never.clusters[0]?.collector?.imagePullPolicy).toBe('Never');
  });

  it("takes the default cluster's sandboxed runtimes from the environment, and names a malformed list", () => {
    const config = loadWorkerConfig({ ASSAY_RUNTIME_CLASSES: 'gvisor=gvisor,kata=kata-qemu' }, () => '');
    expect(config.clusters[0]?.security.runtimeClasses).toEqual({ gvisor: 'gvisor', kata: 'kata-qemu' });
    expect(loadWorkerConfig({}, () => '').clusters[0]?.security.runtimeClasses).toEqual({});
    expect(() => loadWorkerConfig({ ASSAY_RUNTIME_CLASSES: 'gvisor' }, () => '')).toThrow(/ASSAY_RUNTIME_CLASSES/);
  });

  it('reads the collector per cluster from the file; none given is none', () => {
    const file = [
      'clusters:',
      '  - { name: a, collector: { image: "reg.example/c:1" } }',
      '  - { name: b, collector: { image: "reg.example/c:1", imagePullPolicy: Always } }',
      '  - { name: c }',
    ].join('\n');
    const config = loadWorkerConfig({ ASSAY_WORKER_CONFIG: 'w.yaml' }, () => file);
    expect(config.clusters.map((c) => c.collector)).toEqual([
      { image: 'reg.example/c:1', imagePullPolicy: 'IfNotPresent' },
      { image: 'reg.example/c:1', imagePullPolicy: 'Always' },
      null,
    ]);
  });

  it('names the collector fields that are wrong', () => {
    const file = 'clusters:\n  - { name: a, collector: { image: "", imagePullPolicy: Sometimes } }\n';
    expect(() => loadWorkerConfig({ ASSAY_WORKER_CONFIG: 'w.yaml' }, () => file)).toThrow(
      /clusters\.0\.collector\.image: must name an image[\s\S]*clusters\.0\.collector\.imagePullPolicy/,
    );
    expect(() => loadWorkerConfig({ ASSAY_COLLECTOR_PULL_POLICY: 'sometimes' }, () => '')).toThrow(
      'ASSAY_COLLECTOR_PULL_POLICY',
    );
  });

  it('turns the retention set-up off by file or environment, the environment winning', () => {
    const file = 'retention: { setup: false, sweepEveryMinutes: 15 }\n';
    const off = loadWorkerConfig({ ASSAY_WORKER_CONFIG: 'w.yaml' }, () => file);
    expect(off.retention).toEqual({ setup: false, sweepEveryMinutes: 15 });
    const on = loadWorkerConfig({ ASSAY_WORKER_CONFIG: 'w.yaml', ASSAY_RETENTION_SETUP: 'yes' }, () => file);
    expect(on.retention).toEqual({ setup: true, sweepEveryMinutes: 15 });
    expect(loadWorkerConfig({ ASSAY_RETENTION_SETUP: '0' }, () => '').retention.setup).toBe(false);
    expect(() => loadWorkerConfig({ ASSAY_RETENTION_SETUP: 'maybe' }, () => '')).toThrow(
      'ASSAY_RETENTION_SETUP',
    );
    expect(() =>
      loadWorkerConfig({ ASSAY_WORKER_CONFIG: 'w.yaml' }, () => 'retention: { sweepEveryMinutes: 0 }\n'),
    ).toThrow('retention.sweepEveryMinutes');
  });

  it('reads the log level and a prebuilt workflow bundle from the environment', () => {
    const config = loadWorkerConfig(
      { ASSAY_LOG_LEVEL: 'debug', ASSAY_WORKFLOW_BUNDLE: '/tmp/b.js' },
      () => '',
    );
    expect(config.logLevel).toBe('debug');
    expect(config.workflowBundle).toBe('/tmp/b.js');
    expect(() => loadWorkerConfig({ ASSAY_LOG_LEVEL: 'loud' }, () => '')).toThrow('ASSAY_LOG_LEVEL');
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
