import { describe, expect, it } from '@jest/globals';
import { ADMISSION_DEFAULT_PORT } from '../../../../src/admission/defaults.js';
import { loadStackConfig } from '../../../../src/stack/config.js';
import {
  apiserverArgs,
  cniConflist,
  etcdArgs,
  kubeProxyConfigYaml,
  kubeletArgs,
  kubeletConfigYaml,
} from '../../../../src/stack/kube/configs.js';
import {
  CLUSTER,
  CLUSTER_B,
  kubeLayout,
  STACK_CLUSTERS,
  stackCluster,
  type ClusterSpec,
} from '../../../../src/stack/kube/layout.js';
import { inNodeNetns } from '../../../../src/stack/kube/netns.js';
import { gateRuleSpec } from '../../../../src/stack/kube/netpol.js';
import { stackWorkerConfig } from '../../../../src/stack/kube/worker-config.js';
import { pkiPaths } from '../../../../src/stack/kube/pki.js';
import { stackPaths } from '../../../../src/stack/paths.js';
import { selectComponents } from '../../../../src/stack/stack.js';
import { workerConfigSchema } from '../../../../src/spec/worker-config.js';
import { tempStackContext } from '../helpers.js';

const paths = stackPaths('/cache');

const ports = (c: ClusterSpec): number[] => [
  c.apiserverPort,
  c.etcdClientPort,
  c.etcdPeerPort,
  c.kubeletPort,
  c.kubeletHealthzPort,
  c.controllerManagerPort,
  c.schedulerPort,
  c.proxyHealthzPort,
  c.proxyMetricsPort,
  c.kubeRouterHealthPort,
  c.kubeRouterMetricsPort,
];

/** [first, last] address of an IPv4 CIDR as numbers. */
function range(cidr: string): [number, number] {
  const [ip = '', len = '32'] = cidr.split('/');
  const n = ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const size = 2 ** (32 - Number(len));
  return [n, n + size - 1];
}
const overlap = (a: string, b: string) => {
  const [a0, a1] = range(a);
  const [b0, b1] = range(b);
  return a0 <= b1 && b0 <= a1;
};

describe('the local cluster keeps its layout', () => {
  it('has the paths, ports and names it always had', () => {
    const l = kubeLayout(paths);
    expect(kubeLayout(paths, CLUSTER)).toEqual(expect.objectContaining({ dir: l.dir }));
    expect(l.cluster).toBe(CLUSTER);
    expect(l.dir).toBe('/cache/stack/kubernetes');
    expect(l.adminKubeconfig).toBe('/cache/stack/kubernetes/admin.kubeconfig');
    expect(l.containerdSocket).toBe('/cache/stack/kubernetes/containerd/containerd.sock');
    expect(l.kubeconfig('kubelet')).toBe('/cache/stack/kubernetes/kubelet.kubeconfig');
    expect(CLUSTER).toMatchObject({
      name: 'local',
      component: 'kubernetes',
      nodeName: 'assay-node',
      apiserverPort: 16443,
      etcdClientPort: 12379,
      kubeletPort: 20250,
      serviceCidr: '10.96.0.0/16',
      podCidr: '10.244.0.0/16',
      nodePodCidr: '10.244.0.0/24',
      bridge: 'assay-cni0',
      cniNetwork: 'assay',
      cgroupRoot: 'assay',
    });
    expect(CLUSTER).not.toHaveProperty('netns');
  });

  it('renders its configs as before: loopback health endpoints, its ranges, no namespace', () => {
    const l = kubeLayout(paths);
    const p = pkiPaths(l.pki);
    const kubelet = kubeletConfigYaml(l, p, '192.0.2.2');
    expect(kubelet).toContain(
      'address: 192.0.2.2\nport: 20250\nreadOnlyPort: 0\nhealthzBindAddress: 127.0.0.1\n',
    );
    expect(kubelet).toContain('cgroupRoot: /assay\n');
    const proxy = kubeProxyConfigYaml(l, '192.0.2.2');
    expect(proxy).toContain('healthzBindAddress: 127.0.0.1:20256\nmetricsBindAddress: 127.0.0.1:20249\n');
    expect(proxy).toContain('clusterCIDR: 10.244.0.0/16\nhostnameOverride: assay-node\n');
    expect(kubeletArgs(l, '192.0.2.2')).toContain('--node-labels=assay.dev/local=true');
    expect(apiserverArgs(l, p, '192.0.2.2')).toEqual(
      expect.arrayContaining(['--secure-port=16443', '--advertise-address=192.0.2.2']),
    );
    expect(etcdArgs(l)).toContain('--listen-client-urls=http://127.0.0.1:12379');
    expect((JSON.parse(cniConflist(l)) as { plugins: unknown[] }).plugins[0]).toMatchObject({
      bridge: 'assay-cni0',
      ipam: { ranges: [[{ subnet: '10.244.0.0/24' }]] },
    });
    expect(gateRuleSpec()).toEqual(gateRuleSpec(CLUSTER));
    expect(gateRuleSpec().slice(0, 4)).toEqual(['-i', 'assay-cni0', '-s', '10.244.0.0/24']);
    expect(inNodeNetns(CLUSTER, 'iptables', ['-S'])).toEqual({ command: 'iptables', args: ['-S'] });
  });
});

describe('cluster b', () => {
  it('is known by name beside local', () => {
    expect(STACK_CLUSTERS.map((c) => c.name)).toEqual(['local', 'b']);
    expect(stackCluster('b')).toBe(CLUSTER_B);
    expect(stackCluster('c')).toBeUndefined();
  });

  it('shares no port with local or with the rest of the stack', () => {
    const stack = loadStackConfig({});
    const others = [
      ...ports(CLUSTER),
      stack.temporalPort,
      stack.temporalUiPort,
      stack.s3Port,
      stack.otlpGrpcPort,
      stack.otlpHttpPort,
      stack.tracesUiPort,
      ADMISSION_DEFAULT_PORT,
    ];
    const b = ports(CLUSTER_B);
    expect(new Set(b).size).toBe(b.length);
    for (const port of b) expect(others).not.toContain(port);
  });

  it("has its own address ranges, none overlapping local's or each other", () => {
    const n = CLUSTER_B.netns;
    if (!n) throw new Error('cluster b has no network namespace');
    const bRanges = [CLUSTER_B.podCidr, CLUSTER_B.serviceCidr, `${n.hostIp}/${n.prefixLength}`];
    for (const mine of bRanges) {
      for (const theirs of [CLUSTER.podCidr, CLUSTER.serviceCidr]) expect(overlap(mine, theirs)).toBe(false);
    }
    expect(overlap(CLUSTER_B.podCidr, CLUSTER_B.serviceCidr)).toBe(false);
    expect(overlap(CLUSTER_B.nodePodCidr, CLUSTER_B.podCidr)).toBe(true);
    expect(overlap(`${n.nodeIp}/32`, `${n.hostIp}/${n.prefixLength}`)).toBe(true);
    expect(overlap(`${CLUSTER_B.apiserverServiceIp}/32`, CLUSTER_B.serviceCidr)).toBe(true);
  });

  it("has its own names, none that local's teardown would take for its own", () => {
    for (const key of [
      'component',
      'nodeName',
      'bridge',
      'cniNetwork',
      'cgroupRoot',
      'kubeconfigCluster',
    ] as const) {
      expect(CLUSTER_B[key]).not.toBe(CLUSTER[key]);
    }
    // Local's teardown removes libcni results named `<network>-…`.
    expect(CLUSTER_B.cniNetwork.startsWith(`${CLUSTER.cniNetwork}-`)).toBe(false);
    const n = CLUSTER_B.netns;
    for (const name of [CLUSTER_B.bridge, n?.hostInterface ?? '', n?.nodeInterface ?? '']) {
      expect(name.length).toBeGreaterThan(0);
      expect(name.length).toBeLessThanOrEqual(15);
    }
  });

  it("keeps its state beside local's, never inside it", () => {
    const local = kubeLayout(paths);
    const b = kubeLayout(paths, CLUSTER_B);
    expect(b.dir).toBe('/cache/stack/kubernetes-b');
    for (const key of [
      'dir',
      'adminKubeconfig',
      'containerdSocket',
      'containerdConfig',
      'runscRoot',
      'podLogs',
    ] as const) {
      expect(b[key].startsWith(`${local.dir}/`)).toBe(false);
      expect(b[key].startsWith(`${b.dir}/`) || b[key] === b.dir).toBe(true);
    }
  });

  it('runs its node in its own namespace, probed and reached through the veth', () => {
    const l = kubeLayout(paths, CLUSTER_B);
    const p = pkiPaths(l.pki);
    const kubelet = kubeletConfigYaml(l, p, '10.250.0.2');
    expect(kubelet).toContain('address: 10.250.0.2\nport: 21250\n');
    expect(kubelet).toContain('healthzBindAddress: 10.250.0.2\nhealthzPort: 21248\n');
    expect(kubelet).toContain('cgroupRoot: /assay-b\n');
    expect(kubelet).toContain(`containerRuntimeEndpoint: unix://${l.containerdSocket}\n`);
    expect(kubeProxyConfigYaml(l, '10.250.0.2')).toContain(
      'clusterCIDR: 10.245.0.0/16\nhostnameOverride: assay-node-b\n',
    );
    expect(kubeletArgs(l, '10.250.0.2')).toContain('--hostname-override=assay-node-b');
    expect(apiserverArgs(l, p, '10.250.0.1')).toEqual(
      expect.arrayContaining([
        '--secure-port=17443',
        '--advertise-address=10.250.0.1',
        '--service-cluster-ip-range=10.97.0.0/16',
        '--etcd-servers=http://127.0.0.1:13379',
      ]),
    );
    expect(JSON.parse(cniConflist(l)) as unknown).toMatchObject({
      name: 'assayb',
      plugins: [
        { bridge: 'assay-b-cni0', ipam: { dataDir: l.cniIpamDir, ranges: [[{ subnet: '10.245.0.0/24' }]] } },
      ],
    });
    expect(gateRuleSpec(CLUSTER_B).slice(0, 4)).toEqual(['-i', 'assay-b-cni0', '-s', '10.245.0.0/24']);
    expect(inNodeNetns(CLUSTER_B, 'iptables', ['-S', 'FORWARD'])).toEqual({
      command: 'nsenter',
      args: ['--net=/run/netns/assay-b', '--', 'iptables', '-S', 'FORWARD'],
    });
  });
});

describe('the generated worker config', () => {
  it('registers local and b, each by its own kubeconfig and context, and is a valid registry', () => {
    const doc = stackWorkerConfig(paths, [CLUSTER, CLUSTER_B]);
    const config = workerConfigSchema.parse(doc);
    expect(config.clusters.map((c) => c.name)).toEqual(['local', 'b']);
    const [local, b] = config.clusters;
    expect(local?.kubeconfig).toEqual({
      path: '/cache/stack/kubernetes/admin.kubeconfig',
      context: 'assay-local',
    });
    expect(b?.kubeconfig).toEqual({ path: '/cache/stack/kubernetes-b/admin.kubeconfig', context: 'assay-b' });
    expect(b?.labels).toEqual({ region: 'b' });
    expect(b?.collector).toEqual({ image: 'localhost/assay/collector:1', imagePullPolicy: 'Never' });
    expect(b?.security.runtimeClasses).toEqual({ gvisor: 'gvisor' });
  });
});

describe('selecting components by cluster', () => {
  it('adds kubernetes-b after the whole stack, or acts on it alone', async () => {
    const { ctx } = await tempStackContext();
    const all = selectComponents(ctx, undefined).map((c) => c.name);
    expect(all).not.toContain('kubernetes-b');
    expect(selectComponents(ctx, undefined, ['local']).map((c) => c.name)).toEqual(all);
    expect(selectComponents(ctx, undefined, ['local', 'b']).map((c) => c.name)).toEqual([
      ...all,
      'kubernetes-b',
    ]);
    expect(selectComponents(ctx, undefined, ['b']).map((c) => c.name)).toEqual(['kubernetes-b']);
    expect(selectComponents(ctx, ['kubernetes'], ['local', 'b']).map((c) => c.name)).toEqual([
      'kubernetes',
      'kubernetes-b',
    ]);
  });

  it('refuses a cluster it does not know, or none', async () => {
    const { ctx } = await tempStackContext();
    expect(() => selectComponents(ctx, undefined, ['local', 'c'])).toThrow(
      /unknown cluster "c" \(known: local, b\)/,
    );
    expect(() => selectComponents(ctx, undefined, [])).toThrow(/name at least one cluster/);
  });
});
