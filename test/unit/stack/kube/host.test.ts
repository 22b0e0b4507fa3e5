import { describe, expect, it } from '@jest/globals';
import { parseMountinfo } from '../../../../src/stack/kube/host.js';

describe('parseMountinfo', () => {
  it('reads mount points and types, decoding escaped spaces', () => {
    const text = [
      '25 30 0:22 / /sys/fs/cgroup/memory rw,nosuid shared:9 - cgroup cgroup rw,memory',
      '40 25 0:50 / /root/.cache/assay/stack/kubernetes/kubelet/pods/x/volumes/kubernetes.io~empty\\040dir/a rw - tmpfs tmpfs rw',
      'garbage',
    ].join('\n');
    expect(parseMountinfo(text)).toEqual([
      { mountPoint: '/sys/fs/cgroup/memory', fsType: 'cgroup' },
      {
        mountPoint: '/root/.cache/assay/stack/kubernetes/kubelet/pods/x/volumes/kubernetes.io~empty dir/a',
        fsType: 'tmpfs',
      },
    ]);
  });
});
