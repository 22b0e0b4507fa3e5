import { readFile } from 'node:fs/promises';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { StackPaths } from '../paths.js';
import { componentDir } from '../paths.js';

/**
 * The network namespace a node of a second cluster runs in (its containerd, kubelet, kube-proxy and kube-router), so
 * its kube-proxy rules, CNI bridge and kube-router state never meet the local node's. A veth pair joins it to the
 * host: `hostIp` on the host's end (the cluster's API server advertises it to the node and its pods), `nodeIp` on the
 * node's end (the node's IP: the API server reaches the kubelet there, and the stack probes the node's daemons there).
 */
export interface NodeNetns {
  /** `ip netns` name: the namespace is bound at `/run/netns/<name>`. */
  readonly name: string;
  /** The veth's host end and node end (at most 15 characters each). */
  readonly hostInterface: string;
  readonly nodeInterface: string;
  readonly hostIp: string;
  readonly nodeIp: string;
  readonly prefixLength: number;
}

/** Everything that tells one cluster of the local stack from another: names, ports, address ranges, cgroup root. */
export interface ClusterSpec {
  /** The cluster's name in the stack (`--clusters local,b`) and in the generated worker config. */
  readonly name: string;
  /** Its stack component, which is also its state directory under `<cache>/stack/`. */
  readonly component: string;
  /** The cluster's (and context's) name in its kubeconfigs. */
  readonly kubeconfigCluster: string;
  readonly nodeName: string;
  /** `--node-labels` of its kubelet. */
  readonly nodeLabels: string;
  readonly apiserverPort: number;
  readonly etcdClientPort: number;
  readonly etcdPeerPort: number;
  readonly kubeletPort: number;
  readonly kubeletHealthzPort: number;
  readonly controllerManagerPort: number;
  readonly schedulerPort: number;
  readonly proxyHealthzPort: number;
  readonly proxyMetricsPort: number;
  readonly kubeRouterHealthPort: number;
  readonly kubeRouterMetricsPort: number;
  readonly kubeRouterNodePortRange: string;
  readonly serviceCidr: string;
  readonly apiserverServiceIp: string;
  readonly podCidr: string;
  readonly nodePodCidr: string;
  readonly bridge: string;
  readonly cniNetwork: string;
  readonly cgroupRoot: string;
  readonly containerdNamespace: string;
  /** Absent: the node runs in the host's network namespace (the `local` cluster). */
  readonly netns?: NodeNetns;
}

/** Fixed addresses and ports of the local cluster, chosen away from the defaults of a developer's own cluster. */
export const CLUSTER = {
  name: 'local',
  component: 'kubernetes',
  kubeconfigCluster: 'assay-local',
  nodeName: 'assay-node',
  nodeLabels: 'assay.dev/local=true',
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
} as const satisfies ClusterSpec;

/**
 * Cluster `b` (`npm run stack -- up --clusters local,b`): a second single-node cluster beside `local`, from the same
 * cached binaries and images. Its control plane runs on the host on ports 1000 above local's; its node runs in the
 * network namespace `assay-b` with its own bridge, pod range, service range, cgroup root and state directory
 * (`<cache>/stack/kubernetes-b`, a sibling of local's so neither's teardown reaches into the other's). Its CNI network
 * name does not start with `assay-`, which local's teardown matches in libcni's result cache.
 */
export const CLUSTER_B: ClusterSpec = {
  name: 'b',
  component: 'kubernetes-b',
  kubeconfigCluster: 'assay-b',
  nodeName: 'assay-node-b',
  nodeLabels: 'assay.dev/local=true,assay.dev/cluster=b',
  apiserverPort: 17443,
  etcdClientPort: 13379,
  etcdPeerPort: 13380,
  kubeletPort: 21250,
  kubeletHealthzPort: 21248,
  controllerManagerPort: 21257,
  schedulerPort: 21259,
  proxyHealthzPort: 21256,
  proxyMetricsPort: 21249,
  kubeRouterHealthPort: 21244,
  kubeRouterMetricsPort: 21245,
  kubeRouterNodePortRange: CLUSTER.kubeRouterNodePortRange,
  serviceCidr: '10.97.0.0/16',
  apiserverServiceIp: '10.97.0.1',
  podCidr: '10.245.0.0/16',
  nodePodCidr: '10.245.0.0/24',
  bridge: 'assay-b-cni0',
  cniNetwork: 'assayb',
  cgroupRoot: 'assay-b',
  containerdNamespace: CLUSTER.containerdNamespace,
  netns: {
    name: 'assay-b',
    hostInterface: 'assay-b-host',
    nodeInterface: 'assay-b-node',
    hostIp: '10.250.0.1',
    nodeIp: '10.250.0.2',
    prefixLength: 30,
  },
};

/** The clusters the local stack can run, `local` first. */
export const STACK_CLUSTERS: readonly ClusterSpec[] = [CLUSTER, CLUSTER_B];

/** @returns the cluster of that name, or undefined. */
export function stackCluster(name: string): ClusterSpec | undefined {
  return STACK_CLUSTERS.find((c) => c.name === name);
}

/**
 * The address the stack probes a node daemon's health endpoint on: loopback on the host, the node's veth address for
 * a node in its own network namespace (its loopback is not the host's).
 */
export function nodeProbeAddress(c: ClusterSpec): string {
  return c.netns?.nodeIp ?? '127.0.0.1';
}

/** Where a cluster's state lives under the stack's state directory (`<cache>/stack/kubernetes` for `local`). */
export interface KubeLayout {
  /** The cluster these paths belong to. */
  readonly cluster: ClusterSpec;
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

export function kubeLayout(paths: StackPaths, cluster: ClusterSpec = CLUSTER): KubeLayout {
  const dir = componentDir(paths, cluster.component);
  const containerdDir = join(dir, 'containerd');
  return {
    cluster,
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
