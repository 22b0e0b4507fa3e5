import { readFile, readdir, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../images/exec.js';
import { CLUSTER, type ClusterSpec, type KubeLayout } from './layout.js';
import { readMounts } from './host.js';
import { inNodeNetns, runInNode } from './netns.js';
import { kubeRouterLeftovers } from './netpol.js';
import { findProcesses, killAndWait } from './probes.js';

/** How `stack down` reaches our containerd with `ctr`. */
export interface CtrTarget {
  readonly address: string;
  readonly namespace: string;
}

const ctr = (t: CtrTarget, ...args: string[]) =>
  run('ctr', ['-a', t.address, '-n', t.namespace, ...args], { allowFailure: true });

/** A pod sandbox as containerd knows it: enough to undo its network without the kubelet. */
export interface SandboxNet {
  readonly id: string;
  readonly netns: string;
}

interface ContainerInfo {
  Labels?: Record<string, string>;
  Spec?: { linux?: { namespaces?: { type: string; path?: string }[] } };
}

/** The running task ids in our containerd namespace (empty when containerd does not answer). */
export async function runningTasks(t: CtrTarget): Promise<string[]> {
  const { code, stdout } = await ctr(t, 'tasks', 'ls');
  if (code !== 0) return [];
  return stdout
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((c) => c[0] && c[2] === 'RUNNING')
    .map((c) => c[0] as string);
}

/** Every container id in our containerd namespace. */
async function containerIds(t: CtrTarget): Promise<string[]> {
  const { code, stdout } = await ctr(t, 'containers', 'ls', '-q');
  if (code !== 0) return [];
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
}

/** The sandboxes' network namespaces, read from containerd before the containers are deleted. */
export async function sandboxNetworks(t: CtrTarget): Promise<SandboxNet[]> {
  const nets: SandboxNet[] = [];
  for (const id of await containerIds(t)) {
    const { code, stdout } = await ctr(t, 'containers', 'info', id);
    if (code !== 0) continue;
    const info = JSON.parse(stdout) as ContainerInfo;
    if (info.Labels?.['io.cri-containerd.kind'] !== 'sandbox') continue;
    const netns = info.Spec?.linux?.namespaces?.find((n) => n.type === 'network')?.path;
    if (netns) nets.push({ id, netns });
  }
  return nets;
}

/** Kills every task and deletes every container (and its snapshot) in our namespace. Images stay. */
export async function removeAllContainers(t: CtrTarget): Promise<number> {
  const ids = await containerIds(t);
  for (const id of ids) await ctr(t, 'tasks', 'kill', '-s', 'SIGKILL', id);
  for (const id of ids) {
    for (let i = 0; i < 20; i++) {
      const { code, stderr } = await ctr(t, 'tasks', 'delete', '-f', id);
      if (code === 0 || /not found/i.test(stderr)) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await ctr(t, 'containers', 'delete', id);
  }
  return ids.length;
}

/**
 * Undoes a sandbox's network the way the CRI would (CNI `DEL` on our bridge network: veth, IP lease and masquerade
 * rules go), then unmounts and removes its network namespace file. The plugins run in the cluster's node namespace,
 * where its containerd ran them.
 */
export async function releaseSandboxNetwork(
  conflist: string,
  net: SandboxNet,
  c: ClusterSpec = CLUSTER,
): Promise<void> {
  const list = JSON.parse(conflist) as {
    cniVersion: string;
    name: string;
    plugins: Record<string, unknown>[];
  };
  for (const plugin of [...list.plugins].reverse()) {
    const type = plugin.type as string;
    const cmd = inNodeNetns(c, join('/usr/lib/cni', type), []);
    await run(cmd.command, cmd.args, {
      allowFailure: true,
      input: JSON.stringify({ ...plugin, cniVersion: list.cniVersion, name: list.name }),
      env: {
        CNI_COMMAND: 'DEL',
        CNI_CONTAINERID: net.id,
        CNI_NETNS: net.netns,
        CNI_IFNAME: 'eth0',
        CNI_PATH: '/usr/lib/cni',
      },
    });
  }
  await run('umount', [net.netns], { allowFailure: true });
  await rm(net.netns, { force: true });
}

/** Records the sandboxes' network namespaces in the state dir, so a second `down` can still release them. */
export async function rememberSandboxNetworks(l: KubeLayout, nets: readonly SandboxNet[]): Promise<void> {
  const known = await recalledSandboxNetworks(l);
  const merged = new Map([...known, ...nets].map((n) => [n.id, n]));
  await writeFile(l.netnsRecord, JSON.stringify([...merged.values()]));
}

export async function recalledSandboxNetworks(l: KubeLayout): Promise<SandboxNet[]> {
  try {
    return JSON.parse(await readFile(l.netnsRecord, 'utf8')) as SandboxNet[];
  } catch {
    return [];
  }
}

/**
 * Stops what gVisor left running once containerd and its shims are gone (a sandbox and its gofer survive a killed
 * shim), found by the runsc state root every runsc process of ours is started with (`--root=<runscRoot>/<namespace>`),
 * then removes that state so the next containerd does not meet sandboxes that no longer exist.
 *
 * @returns how many processes it stopped.
 */
export async function removeGvisorLeftovers(l: KubeLayout): Promise<number> {
  const pids = await findProcesses([`--root=${l.runscRoot}/`]);
  await killAndWait(pids);
  // runsc keeps a network namespace mounted in its root (`null-netns`).
  await unmountBelow(l.runscRoot);
  await rm(l.runscRoot, { recursive: true, force: true });
  return pids.length;
}

/** Unmounts every mount below our state directory (overlay rootfs, shm, kubelet volumes), deepest first. */
export async function unmountBelow(dir: string): Promise<string[]> {
  const failed: string[] = [];
  const ours = (await readMounts())
    .map((m) => m.mountPoint)
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const mountPoint of [...new Set(ours)]) {
    const { code } = await run('umount', [mountPoint], { allowFailure: true });
    if (code !== 0) {
      const lazy = await run('umount', ['-l', mountPoint], { allowFailure: true });
      if (lazy.code !== 0) failed.push(mountPoint);
    }
  }
  return failed;
}

/** Deletes our bridge (the veths went with their namespaces). */
export async function deleteBridge(c: ClusterSpec = CLUSTER): Promise<void> {
  const { code } = await runInNode(c, 'ip', ['link', 'show', c.bridge], { allowFailure: true });
  if (code === 0) await runInNode(c, 'ip', ['link', 'delete', c.bridge]);
}

/** Host ends of pod veths still attached to our bridge (there should be none after `down`). */
export async function vethsOnBridge(c: ClusterSpec = CLUSTER): Promise<string[]> {
  const { code, stdout } = await runInNode(c, 'ip', ['-o', 'link', 'show', 'master', c.bridge], {
    allowFailure: true,
  });
  if (code !== 0) return [];
  return stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^@:\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/**
 * Removes masquerade rules the bridge plugin left for our network (when a sandbox disappeared without CNI `DEL`):
 * each is a POSTROUTING jump to a `CNI-…` chain commented with our network name.
 */
export async function removeCniIptables(): Promise<number> {
  const { code, stdout } = await run('iptables-save', ['-t', 'nat'], { allowFailure: true });
  if (code !== 0) return 0;
  let removed = 0;
  for (const line of stdout.split('\n')) {
    const m = /^-A POSTROUTING (.*-j (CNI-[0-9a-f]+).*)$/.exec(line);
    if (!m?.[1] || !m[2] || !line.includes(`name: \\"${CLUSTER.cniNetwork}\\"`)) continue;
    const chain = m[2];
    // iptables-save quotes the comment; re-split it the way a shell would.
    const args = [...m[1].matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((x) =>
      x[1] !== undefined ? x[1].replace(/\\"/g, '"') : (x[2] ?? ''),
    );
    await run('iptables', ['-t', 'nat', '-D', 'POSTROUTING', ...args], { allowFailure: true });
    await run('iptables', ['-t', 'nat', '-F', chain], { allowFailure: true });
    await run('iptables', ['-t', 'nat', '-X', chain], { allowFailure: true });
    removed++;
  }
  return removed;
}

/** The kubelet keeps `/var/log/containers/*.log` symlinks into our pod log directory; those are ours to remove. */
export async function removeContainerLogLinks(l: KubeLayout): Promise<void> {
  const dir = '/var/log/containers';
  for (const name of await readdir(dir).catch(() => [])) {
    const target = await readlink(join(dir, name)).catch(() => '');
    if (target.startsWith(`${l.podLogs}/`)) await rm(join(dir, name), { force: true });
  }
}

/** Chains the kubelet creates for itself (`makeIPTablesUtilChains`, canaries); kube-proxy's go with `--cleanup`. */
const KUBELET_CHAINS = ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT'];

/** Removes the kubelet's own iptables chains (IPv4 and IPv6) and the jumps into them. */
export async function removeKubeletIptables(): Promise<void> {
  for (const [save, tool] of [
    ['iptables-save', 'iptables'],
    ['ip6tables-save', 'ip6tables'],
  ] as const) {
    for (const table of ['filter', 'nat', 'mangle']) {
      const { code, stdout } = await run(save, ['-t', table], { allowFailure: true });
      if (code !== 0) continue;
      for (const line of stdout.split('\n')) {
        const m = /^-A (\S+) (.*)$/.exec(line);
        if (!m?.[1] || !m[2] || KUBELET_CHAINS.includes(m[1])) continue;
        if (!KUBELET_CHAINS.some((c) => m[2]?.endsWith(`-j ${c}`))) continue;
        await run(tool, ['-t', table, '-D', m[1], ...m[2].split(' ')], { allowFailure: true });
      }
      for (const chain of KUBELET_CHAINS) {
        if (!stdout.includes(`:${chain} `)) continue;
        await run(tool, ['-t', table, '-F', chain], { allowFailure: true });
        await run(tool, ['-t', table, '-X', chain], { allowFailure: true });
      }
    }
  }
}

/**
 * Removes what kube-router's policy controller leaves behind once stopped (it keeps its rules on SIGTERM, and its
 * `--cleanup-config` is broken in v2.1.0), IPv4 and IPv6: the jumps into its chains and our gate, its chains, then
 * its ipsets (an ipset can only go once no rule uses it). Safe when none of it exists.
 *
 * @returns what could not be removed, for a warning.
 */
export async function removeKubeRouterNetfilter(c: ClusterSpec = CLUSTER): Promise<string[]> {
  const failed: string[] = [];
  const attempt = async (tool: string, args: string[]) => {
    const { code, stderr } = await runInNode(c, tool, args, { allowFailure: true });
    if (code !== 0) failed.push(`${tool} ${args.join(' ')}: ${stderr.trim()}`);
  };
  for (const [save, tool] of [
    ['iptables-save', 'iptables'],
    ['ip6tables-save', 'ip6tables'],
  ] as const) {
    const { code, stdout } = await runInNode(c, save, ['-t', 'filter'], { allowFailure: true });
    if (code !== 0) continue;
    const { rules, chains } = kubeRouterLeftovers(stdout, '');
    for (const r of rules) await attempt(tool, ['-t', 'filter', '-D', r.chain, ...r.spec]);
    for (const chain of chains) await attempt(tool, ['-t', 'filter', '-F', chain]);
    for (const chain of chains) await attempt(tool, ['-t', 'filter', '-X', chain]);
  }
  const sets = await runInNode(c, 'ipset', ['list', '-n'], { allowFailure: true });
  if (sets.code === 0) {
    for (const name of kubeRouterLeftovers('', sets.stdout).ipsets) await attempt('ipset', ['destroy', name]);
  }
  return failed;
}

const cniResults = '/var/lib/cni/results';

/**
 * Files the kubelet and libcni keep at fixed host paths whatever their configuration says: the device-plugin socket
 * under `/var/lib/kubelet` and cached CNI results of our network under `/var/lib/cni`. Removes ours, then each
 * directory only if that left it empty (so a directory that holds someone else's files stays).
 */
export async function removeHostDebris(): Promise<void> {
  await rm('/var/lib/kubelet/device-plugins/kubelet.sock', { force: true });
  await rm('/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint', { force: true });
  await removeCniResultCache(CLUSTER);
  for (const dir of ['/var/lib/kubelet/device-plugins', '/var/lib/kubelet', cniResults, '/var/lib/cni']) {
    await rmdir(dir).catch(() => undefined);
  }
}

/** Removes libcni's cached results of the cluster's CNI network (`<network>-<container>-<interface>`). */
export async function removeCniResultCache(c: ClusterSpec): Promise<void> {
  for (const name of await readdir(cniResults).catch(() => [])) {
    if (name.startsWith(`${c.cniNetwork}-`)) await rm(join(cniResults, name), { force: true });
  }
}
