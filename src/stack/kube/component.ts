import { mkdir, readFile, rm, symlink, readlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { V1Node } from '@kubernetes/client-node';
import type { Component, ComponentEnv, ComponentStatus, StackContext, UpOutcome } from '../component.js';
import { run } from '../images/exec.js';
import { localImages, pauseImage } from '../images/catalog.js';
import { ensureImagesImported, imageRef } from '../images/local-images.js';
import { daemonState, ensureDaemon, httpProbe, stopDaemon, waitFor, type DaemonSpec } from '../process.js';
import {
  ensureEtcdBinary,
  ensureGvisorBinaries,
  ensureKubeBinary,
  ensureKubeRouterBinary,
  gvisorVersion,
  GVISOR_SHIM,
  KUBE_ROUTER_VERSION,
  KUBERNETES_VERSION,
  type GvisorBinaries,
} from './binaries.js';
import {
  apiserverArgs,
  cniConflist,
  containerdToml,
  controllerManagerArgs,
  etcdArgs,
  GVISOR_RUNTIME_CLASS,
  KUBE_ROUTER_USER,
  kubeProxyArgs,
  kubeProxyConfigYaml,
  kubeRouterArgs,
  kubeRouterRbacYaml,
  kubeletArgs,
  kubeletConfigYaml,
  runscToml,
  runtimeClassYaml,
  schedulerArgs,
} from './configs.js';
import {
  ensureBridgeNetfilter,
  ensureCgroupRoot,
  ensureHostPrerequisites,
  removeCgroupRoot,
} from './host.js';
import {
  CLUSTER,
  detectNodeIp,
  kubeLayout,
  nodeProbeAddress,
  type ClusterSpec,
  type KubeLayout,
} from './layout.js';
import { deleteNodeNetns, ensureNodeNetns, netnsPath, nodeNetnsProblem } from './netns.js';
import { ensureNetpolGate, netpolGateProblem } from './netpol.js';
import { ensurePki, kubeconfigYaml, pkiPaths, type CertSpec, type PkiPaths } from './pki.js';
import { findProcesses, httpsGet, httpsProbe, killAndWait, type TlsIdentity } from './probes.js';
import { strictProfilePath, strictSeccompProfile } from '../../security/seccomp.js';
import {
  deleteBridge,
  recalledSandboxNetworks,
  releaseSandboxNetwork,
  rememberSandboxNetworks,
  removeAllContainers,
  removeCniIptables,
  removeKubeletIptables,
  removeKubeRouterNetfilter,
  removeContainerLogLinks,
  removeGvisorLeftovers,
  removeCniResultCache,
  removeHostDebris,
  runningTasks,
  sandboxNetworks,
  unmountBelow,
  vethsOnBridge,
  type CtrTarget,
} from './teardown.js';
import { removeStackWorkerConfig, writeStackWorkerConfig } from './worker-config.js';

/** Daemons in start order (kube-router once the kubelet has registered the node). */
const DAEMONS = [
  'containerd',
  'etcd',
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
  'kube-router',
] as const;
type DaemonName = (typeof DAEMONS)[number];

/** `advertiseIp`: the API server's address for the node and pods (local's: the node IP; b's: the veth's host end). */
function certSpecs(c: ClusterSpec, nodeIp: string, advertiseIp: string): CertSpec[] {
  const node = c.nodeName;
  return [
    {
      name: 'apiserver',
      commonName: 'kube-apiserver',
      server: true,
      dnsNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
        node,
      ],
      ips: [...new Set(['127.0.0.1', c.apiserverServiceIp, nodeIp, advertiseIp])],
    },
    {
      name: 'apiserver-kubelet-client',
      commonName: 'kube-apiserver-kubelet-client',
      organization: 'system:masters',
      client: true,
    },
    { name: 'admin', commonName: 'assay-admin', organization: 'system:masters', client: true },
    { name: 'controller-manager', commonName: 'system:kube-controller-manager', client: true },
    { name: 'scheduler', commonName: 'system:kube-scheduler', client: true },
    { name: 'kube-proxy', commonName: 'system:kube-proxy', client: true },
    { name: 'kube-router', commonName: KUBE_ROUTER_USER, client: true },
    { name: 'kubelet', commonName: `system:node:${node}`, organization: 'system:nodes', client: true },
    {
      name: 'kubelet-server',
      commonName: node,
      server: true,
      dnsNames: [node, 'localhost'],
      ips: ['127.0.0.1', nodeIp],
    },
  ];
}

/** @returns whether the file changed. */
async function writeIfChanged(path: string, content: string, mode = 0o600): Promise<boolean> {
  const current = await readFile(path, 'utf8').catch(() => undefined);
  if (current === content) return false;
  await writeFile(path, content, { mode });
  return true;
}

/** The API server as the host reaches it (the stack, the admin kubeconfig, the control plane). */
function apiserverUrl(c: ClusterSpec): string {
  return `https://127.0.0.1:${c.apiserverPort}`;
}

/** The address the API server advertises: the node IP, or for a node in its own namespace the veth's host end. */
function advertiseAddress(c: ClusterSpec, nodeIp: string): string {
  return c.netns?.hostIp ?? nodeIp;
}

/** The API server as the node's daemons reach it: from their own namespace, through the veth's host end. */
function nodeApiserverUrl(c: ClusterSpec): string {
  return c.netns ? `https://${c.netns.hostIp}:${c.apiserverPort}` : apiserverUrl(c);
}

/**
 * Writes every configuration file and kubeconfig; returns the daemons whose files changed, which a running daemon
 * would not pick up by itself.
 */
async function writeConfigs(
  l: KubeLayout,
  p: PkiPaths,
  nodeIp: string,
  bins: Binaries,
): Promise<Set<DaemonName>> {
  const changed = new Set<DaemonName>();
  const mark = (name: DaemonName, didChange: boolean) => {
    if (didChange) changed.add(name);
  };
  for (const d of [
    l.dir,
    l.binDir,
    l.containerdDir,
    l.containerdBinDir,
    l.runscRoot,
    l.cniConfDir,
    l.cniIpamDir,
    l.kubeletRoot,
    l.podLogs,
    l.etcdData,
  ]) {
    await mkdir(d, { recursive: true });
  }
  const c = l.cluster;
  const server = apiserverUrl(c);
  const cluster = c.kubeconfigCluster;
  await writeIfChanged(
    l.adminKubeconfig,
    await kubeconfigYaml(p, { server, user: 'assay-admin', certName: 'admin', cluster }),
  );
  for (const id of ['controller-manager', 'scheduler', 'kubelet', 'kube-proxy', 'kube-router'] as const) {
    const controlPlane = id === 'controller-manager' || id === 'scheduler';
    const daemon = controlPlane ? (`kube-${id}` as const) : id;
    const url = controlPlane ? server : nodeApiserverUrl(c);
    mark(
      daemon,
      await writeIfChanged(
        l.kubeconfig(id),
        await kubeconfigYaml(p, { server: url, user: id, certName: id, cluster }),
      ),
    );
  }
  mark(
    'containerd',
    await writeIfChanged(l.containerdConfig, containerdToml(l, imageRef(pauseImage)), 0o644),
  );
  // Read by the gVisor shim at each sandbox start, so a new runsc needs no containerd restart; nor does a new shim
  // behind the link (containerd looks it up at each start).
  await writeIfChanged(l.runscConfig, runscToml(l, bins.gvisor.runsc), 0o644);
  await ensureLink(join(l.containerdBinDir, GVISOR_SHIM), bins.gvisor.shim);
  await writeIfChanged(l.runtimeClassManifest, runtimeClassYaml(), 0o644);
  await writeIfChanged(join(l.cniConfDir, '10-assay.conflist'), cniConflist(l), 0o644);
  mark('kubelet', await writeIfChanged(l.kubeletConfig, kubeletConfigYaml(l, p, nodeIp), 0o644));
  // Assay's strict seccomp profile, where the kubelet looks up Localhost profiles (read at each container start).
  const profile = join(l.kubeletRoot, 'seccomp', strictProfilePath);
  await mkdir(dirname(profile), { recursive: true });
  await writeIfChanged(profile, `${JSON.stringify(strictSeccompProfile(), null, 2)}\n`, 0o644);
  mark('kube-proxy', await writeIfChanged(l.proxyConfig, kubeProxyConfigYaml(l, nodeIp), 0o644));
  mark('kube-router', await writeIfChanged(l.kubeRouterRbac, kubeRouterRbacYaml(), 0o644));
  // The multi-call binary picks its component from argv[0], so a `kubectl` link is a real kubectl on the PATH.
  await ensureLink(join(l.binDir, 'kubectl'), bins.kube);
  return changed;
}

async function ensureLink(link: string, target: string): Promise<void> {
  if ((await readlink(link).catch(() => undefined)) !== target) {
    await rm(link, { force: true });
    await symlink(target, link);
  }
}

function ctrTarget(l: KubeLayout): CtrTarget {
  return { address: l.containerdSocket, namespace: l.cluster.containerdNamespace };
}

/** The daemons' environment: ours, with the sbin directories (iptables, runc, ip) on the PATH. */
function daemonEnv(): Record<string, string | undefined> {
  const path = process.env.PATH ?? '/usr/bin:/bin';
  return { ...process.env, PATH: `/usr/local/sbin:/usr/sbin:/sbin:${path}` };
}

/** containerd's: the daemons', with the directory of the gVisor shim first (it finds shims on its PATH). */
function containerdEnv(l: KubeLayout): Record<string, string | undefined> {
  const env = daemonEnv();
  return { ...env, PATH: `${l.containerdBinDir}:${env.PATH}` };
}

interface Binaries {
  readonly kube: string;
  readonly etcd: string;
  readonly kubeRouter: string;
  readonly gvisor: GvisorBinaries;
}

function daemonSpecs(
  ctx: StackContext,
  l: KubeLayout,
  p: PkiPaths,
  nodeIp: string,
  bins: Binaries,
): Record<DaemonName, DaemonSpec> {
  const c = l.cluster;
  const env = daemonEnv();
  const base = { component: c.component, dir: l.dir, env, ownedExecutableDir: ctx.paths.binDir };
  // The node's daemons of a cluster with its own network namespace run in it; their ports are its, not the host's.
  const node = c.netns ? { netns: netnsPath(c.netns) } : {};
  const nodePorts = (ports: number[]) => (c.netns ? [] : ports);
  const probe = nodeProbeAddress(c);
  const admin = adminIdentity(p);
  return {
    containerd: {
      ...base,
      ...node,
      env: containerdEnv(l),
      name: 'containerd',
      command: 'containerd',
      args: ['--config', l.containerdConfig],
      ports: [],
      health: async () => {
        const { code, stderr } = await run('ctr', ['-a', l.containerdSocket, 'version'], {
          allowFailure: true,
          timeoutMs: 5_000,
        });
        return code === 0 ? true : `ctr version: ${stderr.trim().split('\n').pop() ?? code}`;
      },
    },
    etcd: {
      ...base,
      name: 'etcd',
      command: bins.etcd,
      args: etcdArgs(l),
      ports: [c.etcdClientPort, c.etcdPeerPort],
      health: () => httpProbe(`http://127.0.0.1:${c.etcdClientPort}/health`),
    },
    'kube-apiserver': {
      ...base,
      name: 'kube-apiserver',
      command: bins.kube,
      args: apiserverArgs(l, p, advertiseAddress(c, nodeIp)),
      ports: [c.apiserverPort],
      startTimeoutMs: 120_000,
      health: () => httpsProbe(`${apiserverUrl(c)}/readyz`, admin),
    },
    'kube-controller-manager': {
      ...base,
      name: 'kube-controller-manager',
      command: bins.kube,
      args: controllerManagerArgs(l, p),
      ports: [c.controllerManagerPort],
      health: () => httpsProbe(`https://127.0.0.1:${c.controllerManagerPort}/healthz`),
    },
    'kube-scheduler': {
      ...base,
      name: 'kube-scheduler',
      command: bins.kube,
      args: schedulerArgs(l, p),
      ports: [c.schedulerPort],
      health: () => httpsProbe(`https://127.0.0.1:${c.schedulerPort}/healthz`),
    },
    kubelet: {
      ...base,
      ...node,
      name: 'kubelet',
      command: bins.kube,
      args: kubeletArgs(l, nodeIp),
      ports: nodePorts([c.kubeletHealthzPort]),
      startTimeoutMs: 120_000,
      health: () => httpProbe(`http://${probe}:${c.kubeletHealthzPort}/healthz`),
    },
    'kube-proxy': {
      ...base,
      ...node,
      name: 'kube-proxy',
      command: bins.kube,
      args: kubeProxyArgs(l),
      ports: nodePorts([c.proxyHealthzPort, c.proxyMetricsPort]),
      health: () => httpProbe(`http://${probe}:${c.proxyHealthzPort}/livez`),
    },
    'kube-router': {
      ...base,
      ...node,
      name: 'kube-router',
      command: bins.kubeRouter,
      args: kubeRouterArgs(l),
      ports: nodePorts([c.kubeRouterHealthPort, c.kubeRouterMetricsPort]),
      health: () => kubeRouterHealth(c),
    },
  };
}

function kubeRouterHealth(c: ClusterSpec): Promise<true | string> {
  return httpProbe(`http://${nodeProbeAddress(c)}:${c.kubeRouterHealthPort}/healthz`);
}

/** Command-line words only our kube-router has, to find one whose pidfile was lost. */
function kubeRouterNeedles(l: KubeLayout): string[] {
  return [`--kubeconfig=${l.kubeconfig('kube-router')}`, '--run-firewall=true'];
}

function nodeReadiness(c: ClusterSpec, node: V1Node): true | string {
  const ready = node.status?.conditions?.find((cond) => cond.type === 'Ready');
  if (ready?.status === 'True') return true;
  return `node ${c.nodeName} not Ready: ${ready?.reason ?? 'no Ready condition yet'} ${ready?.message ?? ''}`.trim();
}

async function nodeRegisteredProbe(c: ClusterSpec, p: PkiPaths): Promise<true | string> {
  const res = await httpsGet(`${apiserverUrl(c)}/api/v1/nodes/${c.nodeName}`, adminIdentity(p));
  if (typeof res === 'string') return res;
  return res.status === 200 ? true : `node ${c.nodeName} not registered yet (${res.status})`;
}

async function nodeReadyProbe(c: ClusterSpec, p: PkiPaths): Promise<true | string> {
  const res = await httpsGet(`${apiserverUrl(c)}/api/v1/nodes/${c.nodeName}`, adminIdentity(p));
  if (typeof res === 'string') return res;
  if (res.status !== 200) return `reading node ${c.nodeName}: ${res.status} ${res.body.slice(0, 200)}`;
  return nodeReadiness(c, JSON.parse(res.body) as V1Node);
}

/** Whether the `gvisor` RuntimeClass exists with its handler. */
async function runtimeClassProbe(c: ClusterSpec, p: PkiPaths): Promise<true | string> {
  const url = `${apiserverUrl(c)}/apis/node.k8s.io/v1/runtimeclasses/${GVISOR_RUNTIME_CLASS}`;
  const res = await httpsGet(url, adminIdentity(p));
  if (typeof res === 'string') return res;
  if (res.status === 404) return `RuntimeClass ${GVISOR_RUNTIME_CLASS} missing`;
  if (res.status !== 200)
    return `reading RuntimeClass ${GVISOR_RUNTIME_CLASS}: ${res.status} ${res.body.slice(0, 200)}`;
  const handler = (JSON.parse(res.body) as { handler?: string }).handler;
  return handler === GVISOR_RUNTIME_CLASS
    ? true
    : `RuntimeClass ${GVISOR_RUNTIME_CLASS} has handler ${handler ?? 'none'}`;
}

function adminIdentity(p: PkiPaths): TlsIdentity {
  return { ca: p.caCert, certFile: p.cert('admin'), keyFile: p.key('admin') };
}

async function kubectl(kube: string, l: KubeLayout, args: readonly string[]): Promise<void> {
  await run(kube, ['kubectl', `--kubeconfig=${l.adminKubeconfig}`, ...args], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
}

/**
 * Starts kube-router, the node's NetworkPolicy enforcer, and puts the fail-closed gate after its jumps
 * (`netpol.ts`). It reads its node object at start-up, so it starts once the kubelet registered the node. When it is
 * not running, whatever an earlier one left (a killed run keeps its rules, ipsets and our gate) goes first.
 */
async function ensureKubeRouter(
  ctx: StackContext,
  l: KubeLayout,
  p: PkiPaths,
  kube: string,
  spec: DaemonSpec,
  filesChanged: boolean,
): Promise<'started' | 'reused'> {
  const c = l.cluster;
  await ensureBridgeNetfilter(c);
  await restartIfStale(ctx, spec, filesChanged);
  if ((await daemonState(spec)).state !== 'running') {
    await killAndWait(await findProcesses(kubeRouterNeedles(l)));
    await removeKubeRouterLeftovers(ctx, c);
    await waitFor(() => nodeRegisteredProbe(c, p), {
      description: `the kubelet to register node ${c.nodeName}`,
      timeoutMs: 120_000,
      intervalMs: 500,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    });
    await run(kube, ['kubectl', `--kubeconfig=${l.adminKubeconfig}`, 'apply', '-f', l.kubeRouterRbac], {
      timeoutMs: 60_000,
    });
  }
  const outcome = await ensureDaemon(ctx, spec);
  await ensureNetpolGate(ctx.signal, c);
  return outcome;
}

async function removeKubeRouterLeftovers(ctx: StackContext, c: ClusterSpec): Promise<void> {
  const failed = await removeKubeRouterNetfilter(c);
  if (failed.length) {
    ctx.reporter.warn(
      `could not remove all of kube-router's rules and ipsets: ${failed.slice(0, 5).join('; ')}`,
    );
  }
}

/**
 * The single-node Kubernetes cluster of the local stack: containerd (Debian) with our own root, socket and config;
 * etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and kube-router (NetworkPolicy
 * enforcement only) built from their Go modules, each its own daemon; certificates and kubeconfigs in
 * `<cache>/stack/kubernetes`; the local images imported; gVisor (runsc and its shim, built from its Go module) as
 * containerd runtime `gvisor` behind the RuntimeClass of that name. `up` returns once the node is Ready and policies
 * enforced.
 *
 * `cluster` says which: `local` (the component `kubernetes`, its node on the host), or a second cluster such as `b`
 * (`kubernetes-b`, `--clusters local,b`) whose node runs in a network namespace of its own (`ClusterSpec.netns`),
 * from the same binaries and images.
 */
export function kubernetesClusterComponent(cluster: ClusterSpec): Component {
  const c = cluster;
  const layout = (ctx: StackContext) => kubeLayout(ctx.paths, c);
  const what = c.netns
    ? `cluster ${c.name}: a second single-node Kubernetes ${KUBERNETES_VERSION}, its node in network namespace ${c.netns.name} (${c.netns.nodeIp})`
    : `single-node Kubernetes ${KUBERNETES_VERSION} (etcd, control plane, kubelet + containerd, kube-proxy, kube-router ${KUBE_ROUTER_VERSION} enforcing NetworkPolicies, RuntimeClass ${GVISOR_RUNTIME_CLASS})`;
  return {
    name: c.component,
    description: `${what} on ${apiserverUrl(c)}`,

    async up(ctx: StackContext): Promise<UpOutcome> {
      await ensureHostPrerequisites(ctx);
      const l = layout(ctx);
      const bins = {
        kube: await ensureKubeBinary(ctx),
        etcd: await ensureEtcdBinary(ctx),
        kubeRouter: await ensureKubeRouterBinary(ctx),
        gvisor: await ensureGvisorBinaries(ctx),
      };
      if (c.netns) await ensureNodeNetns(c.netns);
      const nodeIp = c.netns?.nodeIp ?? (await detectNodeIp());
      const p = await ensurePki(l.pki, certSpecs(c, nodeIp, advertiseAddress(c, nodeIp)));
      const changed = await writeConfigs(l, p, nodeIp, bins);
      // New certificates (first run, another node IP) mean every daemon must load them.
      if (p.issued.length) for (const name of DAEMONS) changed.add(name);
      await ensureCgroupRoot(c.cgroupRoot);
      const specs = daemonSpecs(ctx, l, p, nodeIp, bins);

      let started = false;
      for (const name of DAEMONS) {
        if (name === 'kube-router') {
          const outcome = await ensureKubeRouter(ctx, l, p, bins.kube, specs[name], changed.has(name));
          if (outcome === 'started') started = true;
          continue;
        }
        if (name === 'containerd') await clearStrayContainerd(ctx, l);
        await restartIfStale(ctx, specs[name], changed.has(name));
        if ((await ensureDaemon(ctx, specs[name])) === 'started') started = true;
        if (name === 'containerd') {
          const imported = await ensureImagesImported(
            ctx,
            { ctr: 'ctr', address: l.containerdSocket, namespace: c.containerdNamespace },
            localImages,
          );
          if (imported.length) ctx.reporter.info(`imported ${imported.join(', ')} into containerd`);
        }
      }
      await waitFor(() => nodeReadyProbe(c, p), {
        description: `node ${c.nodeName} to become Ready`,
        timeoutMs: 120_000,
        intervalMs: 500,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      if ((await runtimeClassProbe(c, p)) !== true) {
        const apply = ['kubectl', `--kubeconfig=${l.adminKubeconfig}`, 'apply', '-f', l.runtimeClassManifest];
        await run(bins.kube, apply, { timeoutMs: 60_000 });
      }
      return started ? 'started' : 'reused';
    },

    async down(ctx: StackContext): Promise<void> {
      const l = layout(ctx);
      const ref = (name: DaemonName) => ({ name, dir: l.dir });
      const t = ctrTarget(l);
      const kubeState = await daemonState(ref('kube-apiserver'));
      const kube = kubeState.record?.argv[0];

      // Controllers first, so nothing re-creates the pods we are about to remove.
      await stopDaemon(ctx, ref('kube-controller-manager'));
      await stopDaemon(ctx, ref('kube-scheduler'));

      // While the kubelet runs, deleting the pods lets it stop every sandbox the CRI way (CNI DEL included).
      const kubeletUp = (await daemonState(ref('kubelet'))).state === 'running';
      if (kube && kubeState.state === 'running' && kubeletUp) {
        await kubectl(kube, l, [
          'delete',
          'pods',
          '--all',
          '--all-namespaces',
          '--force',
          '--grace-period=0',
          '--wait=false',
        ]);
        await waitFor(
          async () => {
            const left = await runningTasks(t);
            return left.length === 0 ? true : `${left.length} containers still running`;
          },
          { description: 'the kubelet to stop every pod', timeoutMs: 10_000, intervalMs: 500 },
        ).catch(() =>
          ctx.reporter.warn(
            'the kubelet did not stop every pod in 10 s; removing the rest through containerd',
          ),
        );
      }

      // kube-router keeps its rules and ipsets when stopped: remove them (and our gate) ourselves. In a node
      // namespace of its own they go with the namespace.
      await stopDaemon(ctx, ref('kube-router'));
      await killAndWait(await findProcesses(kubeRouterNeedles(l)));
      if (!c.netns) await removeKubeRouterLeftovers(ctx, c);

      await stopDaemon(ctx, ref('kube-proxy'));
      if (kube && !c.netns) {
        await run(kube, ['kube-proxy', '--cleanup', `--config=${l.proxyConfig}`], {
          allowFailure: true,
          env: daemonEnv(),
        });
      }
      await stopDaemon(ctx, ref('kubelet'));
      await stopDaemon(ctx, ref('kube-apiserver'));
      await stopDaemon(ctx, ref('etcd'));

      if ((await daemonState(ref('containerd'))).state === 'running') {
        await rememberSandboxNetworks(l, await sandboxNetworks(t));
        const removed = await removeAllContainers(t);
        if (removed) ctx.reporter.info(`removed ${removed} containers left in containerd`);
      }
      const conflist = await readFile(join(l.cniConfDir, '10-assay.conflist'), 'utf8').catch(() => undefined);
      for (const net of await recalledSandboxNetworks(l)) {
        if (conflist) await releaseSandboxNetwork(conflist, net, c);
      }
      await stopDaemon(ctx, ref('containerd'));
      // One whose pidfile was lost (a killed `up`) is still ours: it runs with our config file.
      await killAndWait(await findProcesses(['containerd', '--config', l.containerdConfig]));
      await killAndWait(await findProcesses(['containerd-shim', l.containerdSocket]));
      // gVisor sandboxes and gofers outlive a killed shim; then runsc's state of them is stale.
      const gvisor = await removeGvisorLeftovers(l);
      if (gvisor) ctx.reporter.info(`stopped ${gvisor} gVisor processes left over`);

      const stuck = await unmountBelow(l.dir);
      if (stuck.length) ctx.reporter.warn(`could not unmount: ${stuck.join(', ')}`);
      if (c.netns) {
        // The bridge, the pod veths, kube-proxy's and kube-router's rules and ipsets all live in the namespace.
        await deleteNodeNetns(c.netns);
        await removeCniResultCache(c);
        await removeStackWorkerConfig(ctx.paths);
      } else {
        const veths = await vethsOnBridge(c);
        if (veths.length) ctx.reporter.warn(`veths still on ${c.bridge}: ${veths.join(', ')}`);
        await deleteBridge(c);
        await removeCniIptables();
        await removeKubeletIptables();
      }
      await rm(l.cniIpamDir, { recursive: true, force: true });
      await removeContainerLogLinks(l);
      if (!c.netns) await removeHostDebris();
      const cgroups = await removeCgroupRoot(c.cgroupRoot);
      if (cgroups.length) ctx.reporter.warn(`cgroups still in use: ${cgroups.slice(0, 5).join(', ')}`);
      await rm(l.netnsRecord, { force: true });
    },

    async status(ctx: StackContext): Promise<ComponentStatus> {
      const l = layout(ctx);
      const states = await Promise.all(
        DAEMONS.map(async (name) => [name, await daemonState({ name, dir: l.dir })] as const),
      );
      const down = states.filter(([, s]) => s.state !== 'running').map(([n]) => n);
      const pids = states
        .filter(([, s]) => s.state === 'running')
        .map(([n, s]) => `${n} ${s.record?.pid}`)
        .join(', ');
      if (down.length === DAEMONS.length) {
        return { healthy: false, managed: true, address: apiserverUrl(c), detail: 'not running' };
      }
      const netns = c.netns ? await nodeNetnsProblem(c.netns) : undefined;
      const node = await nodeReadyProbe(c, pkiPaths(l.pki));
      let netpol: string | undefined;
      if (!down.includes('kube-router')) {
        const health = await kubeRouterHealth(c);
        netpol = health === true ? await netpolGateProblem(c) : `kube-router: ${health}`;
      }
      const runtimeClass = down.includes('kube-apiserver')
        ? undefined
        : await runtimeClassProbe(c, pkiPaths(l.pki));
      const healthy =
        down.length === 0 && node === true && netpol === undefined && runtimeClass === true && !netns;
      const detail = [
        node === true ? `node ${c.nodeName} Ready` : node,
        runtimeClass === true
          ? `RuntimeClass ${GVISOR_RUNTIME_CLASS} (gVisor ${gvisorVersion()}, systrap)`
          : (runtimeClass ?? ''),
        down.length ? `not running: ${down.join(', ')}` : '',
        netpol ?? '',
        netns ?? '',
        pids ? `pids: ${pids}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      return { healthy, managed: true, address: apiserverUrl(c), detail };
    },

    async env(ctx: StackContext): Promise<ComponentEnv> {
      const l = layout(ctx);
      if (c.netns) {
        // A second cluster leaves KUBECONFIG (local's) alone: a worker reaches both through the generated config.
        return { vars: { ASSAY_WORKER_CONFIG: await writeStackWorkerConfig(ctx.paths, [CLUSTER, c]) } };
      }
      // The sandboxed runtimes this node offers, for the worker's default cluster (docs/security.md).
      return {
        vars: { KUBECONFIG: l.adminKubeconfig, ASSAY_RUNTIME_CLASSES: 'gvisor=gvisor' },
        pathPrepend: [l.binDir],
      };
    },
  };
}

/** The local cluster (`kubernetes`). */
export const kubernetesComponent: Component = kubernetesClusterComponent(CLUSTER);

/**
 * Stops a running daemon whose command line or configuration files changed since it started (a newer version of this
 * code, another node IP), so that `ensureDaemon` starts it again with the new ones.
 */
async function restartIfStale(ctx: StackContext, spec: DaemonSpec, filesChanged: boolean): Promise<void> {
  const { state, record } = await daemonState(spec);
  if (state !== 'running' || !record) return;
  const argvChanged = JSON.stringify(record.argv) !== JSON.stringify([spec.command, ...spec.args]);
  if (!argvChanged && !filesChanged) return;
  ctx.reporter.info(`restarting ${spec.name}: its ${argvChanged ? 'command line' : 'configuration'} changed`);
  await stopDaemon(ctx, spec);
}

/** A containerd of ours whose pidfile is gone (a killed `up`) would hold our root's lock: stop it first. */
async function clearStrayContainerd(ctx: StackContext, l: KubeLayout): Promise<void> {
  if ((await daemonState({ name: 'containerd', dir: l.dir })).state === 'running') return;
  const strays = await findProcesses(['containerd', '--config', l.containerdConfig]);
  if (strays.length) {
    ctx.reporter.warn(`stopping containerd left over from an earlier run (pid ${strays.join(', ')})`);
    await killAndWait(strays);
  }
}
