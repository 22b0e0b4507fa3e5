import { access } from 'node:fs/promises';
import { run, type RunOptions, type RunResult } from '../images/exec.js';
import type { ClusterSpec, NodeNetns } from './layout.js';

/**
 * The network namespace of a second cluster's node (`ClusterSpec.netns`): created with `ip netns`, joined to the host
 * by a veth pair, entered with `nsenter --net` (not `ip netns exec`, which also gives the process a mount namespace
 * of its own: the kubelet's volume mounts would then be invisible to containerd and the host's teardown).
 */

/** Where `ip netns` binds the namespace. */
export function netnsPath(n: NodeNetns): string {
  return `/run/netns/${n.name}`;
}

/** The command line that runs `command args` in the cluster's node namespace (unchanged for a host node). */
export function inNodeNetns(
  c: ClusterSpec,
  command: string,
  args: readonly string[],
): { command: string; args: string[] } {
  if (!c.netns) return { command, args: [...args] };
  return { command: 'nsenter', args: [`--net=${netnsPath(c.netns)}`, '--', command, ...args] };
}

/** {@link run} in the cluster's node namespace. */
export function runInNode(
  c: ClusterSpec,
  command: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const wrapped = inNodeNetns(c, command, args);
  return run(wrapped.command, wrapped.args, options);
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * Creates the namespace, the veth pair and their addresses (host end `hostIp`, node end `nodeIp`, a default route
 * from the node to the host), and brings loopback up. Idempotent: every step is a create-if-missing or a `replace`.
 * Nothing is forwarded or masqueraded on the host: the node and its pods (masqueraded to `nodeIp` by the CNI bridge
 * inside the namespace) only talk to the host's own addresses.
 *
 * @throws {CommandFailedError} when an `ip` command fails.
 */
export async function ensureNodeNetns(n: NodeNetns): Promise<void> {
  if (!(await exists(netnsPath(n)))) await run('ip', ['netns', 'add', n.name]);
  const inside = await run('ip', ['-n', n.name, 'link', 'show', n.nodeInterface], { allowFailure: true });
  if (inside.code !== 0) {
    // A host end without its peer (the namespace was deleted and made again) cannot be reused.
    await run('ip', ['link', 'delete', n.hostInterface], { allowFailure: true });
    await run('ip', [
      'link',
      'add',
      n.hostInterface,
      'type',
      'veth',
      'peer',
      'name',
      n.nodeInterface,
      'netns',
      n.name,
    ]);
  }
  await run('ip', ['addr', 'replace', `${n.hostIp}/${n.prefixLength}`, 'dev', n.hostInterface]);
  await run('ip', ['link', 'set', n.hostInterface, 'up']);
  const ipn = (...args: string[]) => run('ip', ['-n', n.name, ...args]);
  await ipn('link', 'set', 'lo', 'up');
  await ipn('addr', 'replace', `${n.nodeIp}/${n.prefixLength}`, 'dev', n.nodeInterface);
  await ipn('link', 'set', n.nodeInterface, 'up');
  await ipn('route', 'replace', 'default', 'via', n.hostIp);
}

/** @returns what is wrong with the namespace (for `stack status`), or undefined when it is in place. */
export async function nodeNetnsProblem(n: NodeNetns): Promise<string | undefined> {
  if (!(await exists(netnsPath(n)))) return `network namespace ${n.name} missing`;
  const addr = await run('ip', ['-n', n.name, '-4', '-o', 'addr', 'show', 'dev', n.nodeInterface], {
    allowFailure: true,
  });
  if (addr.code !== 0 || !addr.stdout.includes(` ${n.nodeIp}/`))
    return `${n.nodeInterface} in ${n.name} has no address ${n.nodeIp}`;
  return undefined;
}

/**
 * Deletes the namespace and the host end of the veth (the kernel removes the pair, the bridge, the iptables rules and
 * the ipsets in it once no process is left in it). Safe when none of it exists.
 */
export async function deleteNodeNetns(n: NodeNetns): Promise<void> {
  if (await exists(netnsPath(n))) await run('ip', ['netns', 'delete', n.name], { allowFailure: true });
  const host = await run('ip', ['link', 'show', n.hostInterface], { allowFailure: true });
  if (host.code === 0) await run('ip', ['link', 'delete', n.hostInterface], { allowFailure: true });
}

/** Whether the cluster's node namespace exists (a second cluster that runs, or was left by a killed run). */
export async function nodeNetnsExists(n: NodeNetns): Promise<boolean> {
  return exists(netnsPath(n));
}
