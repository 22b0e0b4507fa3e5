import { access, copyFile, mkdir, readFile, readdir, rmdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackContext } from '../component.js';
import { run } from '../images/exec.js';
import { CLUSTER, type ClusterSpec } from './layout.js';
import { runInNode } from './netns.js';

/** Debian packages the node needs, by the file that shows each is installed. */
const HOST_PACKAGES: readonly { pkg: string; file: string }[] = [
  { pkg: 'containerd', file: '/usr/bin/containerd' },
  { pkg: 'runc', file: '/usr/sbin/runc' },
  { pkg: 'containernetworking-plugins', file: '/usr/lib/cni/bridge' },
  { pkg: 'iptables', file: '/usr/sbin/iptables' },
  { pkg: 'ipset', file: '/usr/sbin/ipset' },
  { pkg: 'conntrack', file: '/usr/sbin/conntrack' },
  { pkg: 'busybox-static', file: '/usr/bin/busybox' },
  { pkg: 'openssl', file: '/usr/bin/openssl' },
  { pkg: 'iproute2', file: '/usr/sbin/ip' },
  // Applies the gVisor shim's patches (deploy/local/gvisor) when it is built.
  { pkg: 'patch', file: '/usr/bin/patch' },
];

/** The node runs real containers: root, Linux and cgroups are not optional. */
export class KubeHostError extends Error {
  readonly code = 'KUBE_HOST_UNSUITABLE';
  constructor(message: string) {
    super(message);
    this.name = 'KubeHostError';
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks that this machine can run the node and installs the Debian packages it needs when they are missing
 * (`apt-get install -y`, after `apt-get update` when apt does not know them yet).
 *
 * @throws {KubeHostError} when not root or not Linux.
 * @throws {CommandFailedError} when apt-get fails.
 */
export async function ensureHostPrerequisites(ctx: StackContext): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) {
    throw new KubeHostError(
      'the local Kubernetes node needs root on Linux (it runs containerd, runc and a kubelet); run the stack as root',
    );
  }
  const missing: string[] = [];
  for (const { pkg, file } of HOST_PACKAGES) if (!(await exists(file))) missing.push(pkg);
  if (missing.length === 0) return;
  await installDebianPackages(ctx, missing);
}

/**
 * `apt-get install -y` of `packages`, after `apt-get update` when apt does not know them yet.
 *
 * @throws {CommandFailedError} when apt-get fails.
 */
export async function installDebianPackages(ctx: StackContext, packages: readonly string[]): Promise<void> {
  ctx.reporter.info(`installing Debian packages: ${packages.join(' ')}`);
  const env = { DEBIAN_FRONTEND: 'noninteractive' };
  const install = () =>
    run('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...packages], {
      env,
      timeoutMs: 15 * 60_000,
    });
  try {
    await install();
  } catch {
    await run('apt-get', ['update', '-q'], { env, timeoutMs: 10 * 60_000 });
    await install();
  }
}

const bridgeNfCallIptables = '/proc/sys/net/bridge/bridge-nf-call-iptables';

/**
 * Makes bridged traffic (pod to pod on our bridge) pass through iptables, without which kube-router's rules would
 * see only routed traffic. Sets the sysctl to 1 when it is 0 and leaves it so on `down` (Docker and kubeadm set it
 * the same way; turning it off again could break someone else's firewall).
 *
 * The sysctl is per network namespace: a node in its own namespace gets it set there.
 *
 * @throws {KubeHostError} when it is not 1 and cannot be made 1 (no br_netfilter, read-only /proc/sys).
 */
export async function ensureBridgeNetfilter(c: ClusterSpec = CLUSTER): Promise<void> {
  if (c.netns) {
    const script = `f=${bridgeNfCallIptables}; [ "$(cat $f)" = 1 ] || echo 1 > $f; cat $f`;
    const { code, stdout, stderr } = await runInNode(c, 'sh', ['-c', script], { allowFailure: true });
    if (code === 0 && stdout.trim() === '1') return;
    throw new KubeHostError(
      `${bridgeNfCallIptables} in network namespace ${c.netns.name} is not 1 and could not be set ` +
        `(${(stderr || stdout).trim() || `exit code ${code}`}): without it NetworkPolicies do not apply to traffic ` +
        `between the pods of cluster ${c.name}`,
    );
  }
  const read = () => readFile(bridgeNfCallIptables, 'utf8').then((t) => t.trim());
  let value: string;
  try {
    value = await read();
  } catch {
    throw new KubeHostError(
      `${bridgeNfCallIptables} does not exist: load the br_netfilter kernel module (modprobe br_netfilter) so that ` +
        'NetworkPolicies apply to traffic between pods',
    );
  }
  if (value === '1') return;
  let problem = `it stayed ${value}`;
  try {
    await writeFile(bridgeNfCallIptables, '1\n');
    if ((await read()) === '1') return;
  } catch (err) {
    problem = err instanceof Error ? err.message : String(err);
  }
  throw new KubeHostError(
    `${bridgeNfCallIptables} is ${value} and could not be set to 1 (${problem}): without it NetworkPolicies do not ` +
      'apply to traffic between pods; run: sysctl -w net.bridge.bridge-nf-call-iptables=1',
  );
}

/** One line of `/proc/self/mountinfo`: where it is mounted and what it is. */
export interface MountEntry {
  readonly mountPoint: string;
  readonly fsType: string;
}

/** Parses `/proc/self/mountinfo` (octal escapes such as `\040` in paths are decoded). */
export function parseMountinfo(text: string): MountEntry[] {
  const entries: MountEntry[] = [];
  for (const l of text.split('\n')) {
    const [left, right] = l.split(' - ');
    const mountPoint = left?.split(' ')[4];
    const fsType = right?.split(' ')[0];
    if (!mountPoint || !fsType) continue;
    entries.push({
      mountPoint: mountPoint.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))),
      fsType,
    });
  }
  return entries;
}

export async function readMounts(): Promise<MountEntry[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

/** The mounted cgroup hierarchies under `/sys/fs/cgroup` (v1 controllers, named hierarchies, a hybrid v2). */
export async function cgroupHierarchies(): Promise<string[]> {
  return (await readMounts())
    .filter(
      (m) => m.mountPoint.startsWith('/sys/fs/cgroup/') && (m.fsType === 'cgroup' || m.fsType === 'cgroup2'),
    )
    .map((m) => m.mountPoint);
}

/**
 * Creates the kubelet's cgroup root in every hierarchy (the kubelet refuses a root that does not exist), copying the
 * cpuset of the parent so tasks can join it.
 */
export async function ensureCgroupRoot(name: string): Promise<void> {
  for (const h of await cgroupHierarchies()) {
    const dir = join(h, name);
    await mkdir(dir, { recursive: true });
    if (h.endsWith('/cpuset')) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        const mine = (await readFile(join(dir, f), 'utf8').catch(() => '')).trim();
        if (mine === '') await copyFile(join(h, f), join(dir, f)).catch(() => undefined);
      }
    }
  }
}

/**
 * Removes the cgroup root and everything below it, deepest first. A cgroup that still holds a process cannot be
 * removed: those are reported (the caller killed every container first, so any is a leak worth seeing).
 */
export async function removeCgroupRoot(name: string): Promise<string[]> {
  const leftovers: string[] = [];
  const removeTree = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
    for (let attempt = 0; ; attempt++) {
      try {
        await rmdir(dir);
        return;
      } catch (err) {
        const code = err instanceof Error && 'code' in err ? err.code : undefined;
        if (code === 'ENOENT') return;
        if (code === 'EBUSY' && attempt < 20) {
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        leftovers.push(dir);
        return;
      }
    }
  };
  for (const h of await cgroupHierarchies()) {
    const dir = join(h, name);
    if (
      await stat(dir).then(
        () => true,
        () => false,
      )
    )
      await removeTree(dir);
  }
  return leftovers;
}
