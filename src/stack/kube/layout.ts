import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { StackPaths } from '../paths.js';
import { componentDir } from '../paths.js';

/** Fixed addresses and ports of the local cluster, chosen away from the defaults of a developer's own cluster. */
export const CLUSTER = {
  nodeName: 'assay-node',
  apiserverPort: 16443,
  etcdClientPort: 12379,
  etcdPeerPort: 12380,
  kubeletPort: 20250,
  kubeletHealthzPort: 20248,
  controllerManagerPort: 20257,
  schedulerPort: 20259,
  proxyHealthzPort: 20256,
  proxyMetricsPort: 20249,
  kubeRouterHealthPort: 20244,
  kubeRouterMetricsPort: 20245,
  /**
   * The node ports kube-router lets pods reach on the node's own addresses whatever their policies say (its default,
   * 30000-32767, would open that whole range under a default-deny policy). The cluster exposes no node ports, so the
   * narrowest range it accepts.
   */
  kubeRouterNodePortRange: '32766-32767',
  serviceCidr: '10.96.0.0/16',
  /** The first address of the service range: the `kubernetes` Service's ClusterIP. */
  apiserverServiceIp: '10.96.0.1',
  podCidr: '10.244.0.0/16',
  nodePodCidr: '10.244.0.0/24',
  /** Our bridge: its name tells `stack down` which bridge is ours. */
  bridge: 'assay-cni0',
  cniNetwork: 'assay',
  /** kubelet `cgroupRoot`: every pod cgroup lives under `/<this>/kubepods`, so `down` removes exactly ours. */
  cgroupRoot: 'assay',
  containerdNamespace: 'k8s.io',
} as const;

/** Where the cluster's state lives under the stack's state directory (`<cache>/stack/kubernetes`). */
export interface KubeLayout {
  readonly dir: string;
  readonly pki: string;
  readonly binDir: string;
  readonly adminKubeconfig: string;
  kubeconfig(identity: 'controller-manager' | 'scheduler' | 'kubelet' | 'kube-proxy' | 'kube-router'): string;
  readonly etcdData: string;
  readonly containerdDir: string;
  readonly containerdConfig: string;
  readonly containerdSocket: string;
  readonly containerdRoot: string;
  readonly containerdState: string;
  readonly runcRoot: string;
  /** Programs containerd finds on its PATH: the gVisor shim (containerd 1.6 ignores a runtime's `runtime_path`). */
  readonly containerdBinDir: string;
  /** The gVisor shim's configuration (`runsc.toml`) and runsc's state root. */
  readonly runscConfig: string;
  readonly runscRoot: string;
  /** The `gvisor` RuntimeClass, applied at `up`. */
  readonly runtimeClassManifest: string;
  readonly cniConfDir: string;
  readonly cniIpamDir: string;
  readonly kubeletRoot: string;
  readonly kubeletConfig: string;
  readonly podLogs: string;
  readonly proxyConfig: string;
  /** The ClusterRole and binding that let kube-router's identity read what it enforces. */
  readonly kubeRouterRbac: string;
  readonly netnsRecord: string;
}

export function kubeLayout(paths: StackPaths): KubeLayout {
  const dir = componentDir(paths, 'kubernetes');
  const containerdDir = join(dir, 'containerd');
  return {
    dir,
    pki: join(dir, 'pki'),
    binDir: join(dir, 'bin'),
    adminKubeconfig: join(dir, 'admin.kubeconfig'),
    kubeconfig: (identity) => join(dir, `${identity}.kubeconfig`),
    etcdData: join(dir, 'etcd'),
    containerdDir,
    containerdConfig: join(containerdDir, 'config.toml'),
    containerdSocket: join(containerdDir, 'containerd.sock'),
    containerdRoot: join(containerdDir, 'root'),
    containerdState: join(containerdDir, 'state'),
    runcRoot: join(containerdDir, 'runc'),
    containerdBinDir: join(containerdDir, 'bin'),
    runscConfig: join(containerdDir, 'runsc.toml'),
    runscRoot: join(containerdDir, 'runsc'),
    runtimeClassManifest: join(dir, 'runtimeclass-gvisor.yaml'),
    cniConfDir: join(dir, 'cni', 'net.d'),
    cniIpamDir: join(dir, 'cni', 'ipam'),
    kubeletRoot: join(dir, 'kubelet'),
    kubeletConfig: join(dir, 'kubelet-config.yaml'),
    podLogs: join(dir, 'pod-logs'),
    proxyConfig: join(dir, 'kube-proxy-config.yaml'),
    kubeRouterRbac: join(dir, 'kube-router-rbac.yaml'),
    netnsRecord: join(dir, 'netns.json'),
  };
}

/**
 * The node's IP: the IPv4 address of the interface holding the default route (the kubelet registers it, the API
 * server advertises it, pods reach the API server through it).
 *
 * @throws when the machine has no default IPv4 route.
 */
export async function detectNodeIp(): Promise<string> {
  const routes = await readFile('/proc/net/route', 'utf8');
  const iface = routes
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .find((cols) => cols[1] === '00000000' && cols[7] === '00000000')?.[0];
  const addr = iface
    ? networkInterfaces()[iface]?.find((a) => a.family === 'IPv4' && !a.internal)
    : undefined;
  if (!addr) throw new Error('no default IPv4 route: the local cluster needs a node IP that pods can reach');
  return addr.address;
}
