import { describe, expect, it } from '@jest/globals';
import { stackStatus } from '../../../src/stack/index.js';
import { connect } from './cluster.js';

// The local stack's cluster: one real node, registered by a real kubelet over containerd.

describe('local Kubernetes node', () => {
  const c = connect();

  it('is Ready and reports its allocatable resources', async () => {
    const nodes = await c.core.listNode();
    expect(nodes.items).toHaveLength(1);
    const node = nodes.items[0];
    const ready = node?.status?.conditions?.find((cond) => cond.type === 'Ready');
    expect(ready?.status).toBe('True');

    const allocatable = node?.status?.allocatable ?? {};
    expect(Number(allocatable.cpu)).toBeGreaterThan(0);
    expect(allocatable.memory).toMatch(/^\d+(Ki|Mi|Gi)?$/);
    expect(Number(allocatable.pods)).toBeGreaterThanOrEqual(200);
    expect(node?.status?.nodeInfo?.kubeletVersion).toMatch(/^v1\.34\./);
    expect(node?.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\//);
  });

  it('is reported healthy by stack status, with every daemon running', async () => {
    const report = await stackStatus({ components: ['kubernetes'] });
    const kube = report.components.find((c) => c.name === 'kubernetes');
    expect(kube).toMatchObject({ healthy: true, managed: true, address: 'https://127.0.0.1:16443' });
    expect(kube?.detail).toContain('node assay-node Ready');
    for (const daemon of [
      'containerd',
      'etcd',
      'kube-apiserver',
      'kube-controller-manager',
      'kube-scheduler',
      'kubelet',
      'kube-proxy',
    ]) {
      expect(kube?.detail).toMatch(new RegExp(`${daemon} \\d+`));
    }
  });
});
