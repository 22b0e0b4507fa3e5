import { nodeProbeAddress, type KubeLayout } from './layout.js';
import type { PkiPaths } from './pki.js';

/** The plugins the API server admits with, on top of its defaults (docs/architecture.md, "The local stack"). */
export const ADMISSION_PLUGINS = [
  'NamespaceLifecycle',
  'LimitRanger',
  'ServiceAccount',
  'PodSecurity',
  'ResourceQuota',
  'Priority',
  'NodeRestriction',
  'MutatingAdmissionWebhook',
  'ValidatingAdmissionWebhook',
] as const;

/**
 * Processes per pod: a fork bomb stops here (docs/security.md). Generous for real evaluations (a Python test run with
 * worker pools uses a few dozen), small enough that a bomb never troubles the node.
 */
export const POD_PIDS_LIMIT = 1024;

/** Pod logs per stream (`stream=Stdout|Stderr`), which log capture uses to keep stdout and stderr apart. */
export const FEATURE_GATES = 'PodLogsQuerySplitStreams=true';

/** containerd's own configuration: its own root, state, socket and runc root, so it never meets a system one. */
export function containerdToml(l: KubeLayout, sandboxImage: string): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(l.containerdRoot)}
state = ${q(l.containerdState)}
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]

[grpc]
  address = ${q(l.containerdSocket)}

[ttrpc]
  address = ${q(`${l.containerdSocket}.ttrpc`)}

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = ${q(`${l.containerdDir}/opt`)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(sandboxImage)}
  enable_selinux = false
  # Machines without CAP_SYS_RESOURCE (VMs, nested containers) cannot lower a process's OOM score: the sandbox's
  # -998 would make runc fail. Clamp to containerd's own score instead.
  restrict_oom_score_adj = true
  max_container_log_line_size = 16384
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        BinaryName = "runc"
        Root = ${q(l.runcRoot)}
    # gVisor (RuntimeClass "${GVISOR_RUNTIME_CLASS}"): its own shim, containerd-shim-runsc-v1, found on containerd's PATH.
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${GVISOR_RUNTIME_CLASS}]
      runtime_type = "io.containerd.runsc.v1"
      pod_annotations = ["dev.gvisor.*"]
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.${GVISOR_RUNTIME_CLASS}.options]
        TypeUrl = "io.containerd.runsc.v1.options"
        ConfigPath = ${q(l.runscConfig)}
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = ${q(l.cniConfDir)}
    max_conf_num = 1
`;
}

/** The RuntimeClass, and containerd runtime handler, of pods that run under gVisor. */
export const GVISOR_RUNTIME_CLASS = 'gvisor';

/**
 * gVisor's shim configuration: which runsc, its state root in our directory, and runsc's flags. systrap is the
 * platform that works without (nested) KVM and is faster than ptrace. `oci-seccomp` makes runsc apply the pod's
 * seccomp profile inside the sandbox; without it gVisor ignores the profile.
 */
export function runscToml(l: KubeLayout, runsc: string): string {
  const q = JSON.stringify;
  return `binary_name = ${q(runsc)}
root = ${q(l.runscRoot)}

[runsc_config]
  platform = "systrap"
  oci-seccomp = "true"
`;
}

/** The RuntimeClass that sends a pod to containerd's gVisor runtime. */
export function runtimeClassYaml(): string {
  return `apiVersion: node.k8s.io/v1
kind: RuntimeClass
metadata:
  name: ${GVISOR_RUNTIME_CLASS}
handler: ${GVISOR_RUNTIME_CLASS}
`;
}

/** A bridge network with host-local IPAM; its state stays in our directory. */
export function cniConflist(l: KubeLayout): string {
  const c = l.cluster;
  return `${JSON.stringify(
    {
      cniVersion: '0.4.0',
      name: c.cniNetwork,
      plugins: [
        {
          type: 'bridge',
          bridge: c.bridge,
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: 'host-local',
            dataDir: l.cniIpamDir,
            ranges: [[{ subnet: c.nodePodCidr }]],
            routes: [{ dst: '0.0.0.0/0' }],
          },
        },
      ],
    },
    null,
    2,
  )}\n`;
}

/**
 * The kubelet, tuned for a registry-less single node: images are never garbage-collected (they cannot be pulled
 * back), eviction thresholds are low, many pods fit, and container logs rotate only at 1 GiB so benchmarks and long
 * evaluations keep their whole log.
 */
export function kubeletConfigYaml(l: KubeLayout, p: PkiPaths, nodeIp: string): string {
  const c = l.cluster;
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${nodeIp}
port: ${c.kubeletPort}
readOnlyPort: 0
healthzBindAddress: ${nodeProbeAddress(c)}
healthzPort: ${c.kubeletHealthzPort}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: ${p.caCert}
authorization:
  mode: Webhook
tlsCertFile: ${p.cert('kubelet-server')}
tlsPrivateKeyFile: ${p.key('kubelet-server')}
containerRuntimeEndpoint: unix://${l.containerdSocket}
cgroupDriver: cgroupfs
cgroupRoot: /${c.cgroupRoot}
cgroupsPerQOS: true
failCgroupV1: false
failSwapOn: false
podLogsDir: ${l.podLogs}
resolvConf: /etc/resolv.conf
maxPods: 250
podPidsLimit: ${POD_PIDS_LIMIT}
serializeImagePulls: false
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
imageMinimumGCAge: 87600h
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  nodefs.inodesFree: 1%
  imagefs.available: 1%
evictionPressureTransitionPeriod: 30s
containerLogMaxSize: 1Gi
containerLogMaxFiles: 2
rotateCertificates: false
serverTLSBootstrap: false
protectKernelDefaults: false
makeIPTablesUtilChains: false
localStorageCapacityIsolation: true
nodeStatusUpdateFrequency: 10s
syncFrequency: 10s
fileCheckFrequency: 20s
shutdownGracePeriod: 0s
featureGates:
  PodLogsQuerySplitStreams: true
`;
}

export function kubeProxyConfigYaml(l: KubeLayout, nodeIp: string): string {
  const c = l.cluster;
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: iptables
clusterCIDR: ${c.podCidr}
hostnameOverride: ${c.nodeName}
bindAddress: ${nodeIp}
healthzBindAddress: ${nodeProbeAddress(c)}:${c.proxyHealthzPort}
metricsBindAddress: ${nodeProbeAddress(c)}:${c.proxyMetricsPort}
nodePortAddresses: [primary]
iptables:
  # NodePorts on 127.0.0.1 would need route_localnet=1, a host sysctl that down could not put back.
  localhostNodePorts: false
clientConnection:
  kubeconfig: ${l.kubeconfig('kube-proxy')}
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

export function etcdArgs(l: KubeLayout): string[] {
  const c = l.cluster;
  return [
    '--name=assay',
    `--data-dir=${l.etcdData}`,
    `--listen-client-urls=http://127.0.0.1:${c.etcdClientPort}`,
    `--advertise-client-urls=http://127.0.0.1:${c.etcdClientPort}`,
    `--listen-peer-urls=http://127.0.0.1:${c.etcdPeerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${c.etcdPeerPort}`,
    `--initial-cluster=assay=http://127.0.0.1:${c.etcdPeerPort}`,
    '--quota-backend-bytes=4294967296',
    '--snapshot-count=10000',
    '--log-level=warn',
  ];
}

/** `advertiseIp`: where the cluster's node and pods reach the API server (local's: the node IP). */
export function apiserverArgs(l: KubeLayout, p: PkiPaths, advertiseIp: string): string[] {
  const c = l.cluster;
  return [
    'kube-apiserver',
    `--etcd-servers=http://127.0.0.1:${c.etcdClientPort}`,
    '--bind-address=0.0.0.0',
    `--secure-port=${c.apiserverPort}`,
    `--advertise-address=${advertiseIp}`,
    `--service-cluster-ip-range=${c.serviceCidr}`,
    `--client-ca-file=${p.caCert}`,
    `--tls-cert-file=${p.cert('apiserver')}`,
    `--tls-private-key-file=${p.key('apiserver')}`,
    `--kubelet-client-certificate=${p.cert('apiserver-kubelet-client')}`,
    `--kubelet-client-key=${p.key('apiserver-kubelet-client')}`,
    `--kubelet-certificate-authority=${p.caCert}`,
    '--kubelet-preferred-address-types=InternalIP,Hostname',
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-account-key-file=${p.saPub}`,
    `--service-account-signing-key-file=${p.saKey}`,
    '--authorization-mode=Node,RBAC',
    `--enable-admission-plugins=${ADMISSION_PLUGINS.join(',')}`,
    `--feature-gates=${FEATURE_GATES}`,
    '--allow-privileged=true',
    '--profiling=false',
    `--cert-dir=${p.dir}/apiserver-generated`,
    '--event-ttl=1h',
    '--v=1',
  ];
}

export function controllerManagerArgs(l: KubeLayout, p: PkiPaths): string[] {
  const c = l.cluster;
  const kc = l.kubeconfig('controller-manager');
  return [
    'kube-controller-manager',
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${c.controllerManagerPort}`,
    `--cert-dir=${p.dir}/controller-manager-generated`,
    `--service-account-private-key-file=${p.saKey}`,
    `--root-ca-file=${p.caCert}`,
    `--cluster-signing-cert-file=${p.caCert}`,
    `--cluster-signing-key-file=${p.caKey}`,
    '--use-service-account-credentials=true',
    `--service-cluster-ip-range=${c.serviceCidr}`,
    `--cluster-cidr=${c.podCidr}`,
    '--allocate-node-cidrs=false',
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
  ];
}

export function schedulerArgs(l: KubeLayout, p: PkiPaths): string[] {
  const kc = l.kubeconfig('scheduler');
  return [
    'kube-scheduler',
    `--kubeconfig=${kc}`,
    `--authentication-kubeconfig=${kc}`,
    `--authorization-kubeconfig=${kc}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${l.cluster.schedulerPort}`,
    `--cert-dir=${p.dir}/scheduler-generated`,
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
  ];
}

export function kubeletArgs(l: KubeLayout, nodeIp: string): string[] {
  return [
    'kubelet',
    `--config=${l.kubeletConfig}`,
    `--kubeconfig=${l.kubeconfig('kubelet')}`,
    `--root-dir=${l.kubeletRoot}`,
    `--hostname-override=${l.cluster.nodeName}`,
    `--node-ip=${nodeIp}`,
    `--node-labels=${l.cluster.nodeLabels}`,
    // cAdvisor refreshes a container's stats every 10 s by default, so the summary API the cost sampler reads would
    // miss most of a short attempt's usage; Kubernetes' own node e2e tests lower it the same way.
    '--housekeeping-interval=1s',
    '--v=1',
  ];
}

export function kubeProxyArgs(l: KubeLayout): string[] {
  return ['kube-proxy', `--config=${l.proxyConfig}`, '--v=1'];
}

/** The user kube-router's client certificate names; {@link kubeRouterRbacYaml} grants it what it reads. */
export const KUBE_ROUTER_USER = 'assay:kube-router';

/**
 * kube-router as a NetworkPolicy enforcer only: no routing (the CNI bridge routes), no service proxy (kube-proxy
 * does). It manages its own chains in the filter table and ipsets, and jumps to them from INPUT, FORWARD and OUTPUT.
 */
export function kubeRouterArgs(l: KubeLayout): string[] {
  const c = l.cluster;
  return [
    `--kubeconfig=${l.kubeconfig('kube-router')}`,
    `--hostname-override=${c.nodeName}`,
    '--run-firewall=true',
    '--run-router=false',
    '--run-service-proxy=false',
    `--service-cluster-ip-range=${c.serviceCidr}`,
    `--service-node-port-range=${c.kubeRouterNodePortRange}`,
    `--health-port=${c.kubeRouterHealthPort}`,
    '--metrics-addr=127.0.0.1',
    `--metrics-port=${c.kubeRouterMetricsPort}`,
    '--v=1',
  ];
}

/** What kube-router's policy controller watches (its informers), read-only, for {@link KUBE_ROUTER_USER}. */
export function kubeRouterRbacYaml(): string {
  return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: assay:kube-router
rules:
- apiGroups: [""]
  resources: [namespaces, pods, services, nodes, endpoints]
  verbs: [get, list, watch]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: assay:kube-router
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: assay:kube-router
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: ${KUBE_ROUTER_USER}
`;
}
