import { waitFor } from '../process.js';
import { CLUSTER, type ClusterSpec } from './layout.js';
import { runInNode } from './netns.js';

/**
 * The node's NetworkPolicy enforcement: kube-router's state in the filter table and ipsets, and our fail-closed gate.
 *
 * kube-router filters a pod only once it has seen the pod's IP, so a new pod's first 0.2-1 s of traffic would pass
 * unfiltered. The gate closes that window: right after kube-router's jump in FORWARD and INPUT, it rejects new
 * connections from the pod network. kube-router ACCEPTs every known pod's allowed traffic in its own chains, so only
 * pods it does not know yet fall through to the gate.
 */

/** The comment kube-router puts on its jumps from INPUT, FORWARD and OUTPUT (followed by ` - <hash>`). */
export const KUBE_ROUTER_JUMP_COMMENT = 'kube-router netpol';
export const GATE_COMMENT = 'assay netpol gate';
/** Pod traffic enters the node's filter table through these: FORWARD (other pods, beyond), INPUT (the node). */
export const GATE_CHAINS = ['FORWARD', 'INPUT'] as const;

/** The gate's rule spec, for `iptables -I/-C/-D <chain>` (in the cluster's node namespace). */
export function gateRuleSpec(c: ClusterSpec = CLUSTER): string[] {
  return [
    '-i',
    c.bridge,
    '-s',
    c.nodePodCidr,
    '-m',
    'conntrack',
    '--ctstate',
    'NEW',
    '-m',
    'comment',
    '--comment',
    GATE_COMMENT,
    '-j',
    'REJECT',
  ];
}

/** Chains kube-router's policy controller creates in the filter table. */
const KUBE_ROUTER_CHAIN =
  /^(KUBE-ROUTER-(INPUT|FORWARD|OUTPUT)|KUBE-POD-FW-[A-Z0-9]+|KUBE-NWPLCY-[A-Z0-9]+)$/;
/** Its ipsets (`inet6:` in front for IPv6). */
const KUBE_ROUTER_IPSET = /^(inet6:)?KUBE-(SRC|DST)-[A-Z0-9]+$/;

/** Splits a rule as `iptables -S` / `iptables-save` print it into arguments (`"…"` words with `\"` escapes). */
export function splitRule(text: string): string[] {
  return [...text.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) =>
    m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1') : (m[2] ?? ''),
  );
}

/** The rules of `chain` in order (each the text after `-A <chain> `), from `iptables -S` or `iptables-save` output. */
export function chainRules(listing: string, chain: string): string[] {
  const prefix = `-A ${chain} `;
  return listing
    .split('\n')
    .filter((l) => l.startsWith(prefix))
    .map((l) => l.slice(prefix.length));
}

const isGate = (rule: string) => rule.includes(`--comment "${GATE_COMMENT}"`);
const isKubeRouterJump = (rule: string, chain: string) =>
  rule.includes(KUBE_ROUTER_JUMP_COMMENT) && rule.endsWith(`-j KUBE-ROUTER-${chain}`);

/**
 * What to do about the gate in one chain:
 * - `keep` — exactly one gate, after kube-router's jump, and it is the current spec (`specMatches`: `iptables -C`);
 * - `wait` — kube-router has not put its jump in yet;
 * - `place` — remove these gate rules (their listed text), then insert the gate at `position` (1-based), right after
 *   the jump.
 */
export type GatePlan =
  | { readonly action: 'keep' }
  | { readonly action: 'wait'; readonly reason: string }
  | { readonly action: 'place'; readonly remove: readonly string[]; readonly position: number };

export function planGate(rules: readonly string[], chain: string, specMatches: boolean): GatePlan {
  const jump = rules.findIndex((r) => isKubeRouterJump(r, chain));
  if (jump < 0) return { action: 'wait', reason: `kube-router's jump is not in ${chain} yet` };
  const gates = rules.map((r, i) => (isGate(r) ? i : -1)).filter((i) => i >= 0);
  if (specMatches && gates.length === 1 && (gates[0] ?? -1) > jump) return { action: 'keep' };
  const gatesBeforeJump = gates.filter((i) => i < jump).length;
  return {
    action: 'place',
    remove: gates.map((i) => rules[i] ?? ''),
    // 0-based jump index, less the gates removed above it, plus one for 1-based numbering, plus one to follow it.
    position: jump - gatesBeforeJump + 2,
  };
}

async function gatePlan(chain: string, c: ClusterSpec): Promise<GatePlan> {
  const listing = await runInNode(c, 'iptables', ['-S', chain]);
  const check = await runInNode(c, 'iptables', ['-C', chain, ...gateRuleSpec(c)], { allowFailure: true });
  return planGate(chainRules(listing.stdout, chain), chain, check.code === 0);
}

/**
 * Puts the gate right after kube-router's jump in FORWARD and INPUT (waiting for kube-router to insert its jumps),
 * idempotently. kube-router rewrites the whole filter table on each sync (iptables-save, then iptables-restore), so
 * a rule inserted during a sync can vanish: the gate counts as placed only once it is still there a second later.
 *
 * @throws {StackTimeoutError} when the jump never appears or the gate does not stay.
 */
export async function ensureNetpolGate(signal?: AbortSignal, c: ClusterSpec = CLUSTER): Promise<void> {
  for (const chain of GATE_CHAINS) {
    let insertedAt = 0;
    await waitFor(
      async () => {
        const plan = await gatePlan(chain, c);
        if (plan.action === 'wait') return plan.reason;
        if (plan.action === 'keep') {
          return Date.now() - insertedAt >= 1_000 ? true : `checking that the ${chain} gate stays`;
        }
        for (const rule of plan.remove) {
          await runInNode(c, 'iptables', ['-D', chain, ...splitRule(rule)], { allowFailure: true });
        }
        await runInNode(c, 'iptables', ['-I', chain, String(plan.position), ...gateRuleSpec(c)]);
        insertedAt = Date.now();
        return `inserted the ${chain} gate at ${plan.position}; checking that it stays`;
      },
      {
        description: `the NetworkPolicy gate after kube-router's jump in ${chain}`,
        timeoutMs: 30_000,
        intervalMs: 250,
        ...(signal ? { signal } : {}),
      },
    );
  }
}

/** @returns what is wrong with the gate (for `stack status`), or undefined when it is in place in both chains. */
export async function netpolGateProblem(c: ClusterSpec = CLUSTER): Promise<string | undefined> {
  for (const chain of GATE_CHAINS) {
    const plan = await gatePlan(chain, c).catch((err: unknown) => ({
      action: 'wait' as const,
      reason: err instanceof Error ? err.message : String(err),
    }));
    if (plan.action === 'wait') return plan.reason;
    if (plan.action === 'place')
      return `the NetworkPolicy gate is not right after kube-router's jump in ${chain}`;
  }
  return undefined;
}

/** A rule to delete: its chain and its spec. */
export interface ChainRule {
  readonly chain: string;
  readonly spec: readonly string[];
}

/** What kube-router (and our gate) left in a filter table and among the ipsets. */
export interface KubeRouterLeftovers {
  /** Jumps into its chains from other chains, and gate rules. */
  readonly rules: readonly ChainRule[];
  /** Its chains: flush all, then delete all (they jump to each other). */
  readonly chains: readonly string[];
  readonly ipsets: readonly string[];
}

/**
 * Finds kube-router's leftovers in `iptables-save -t filter` output and `ipset list -n` output (the same parse works
 * for ip6tables-save; pass '' for the ipsets then).
 */
export function kubeRouterLeftovers(filterSave: string, ipsetNames: string): KubeRouterLeftovers {
  const chains = filterSave
    .split('\n')
    .map((l) => /^:(\S+) /.exec(l)?.[1])
    .filter((c): c is string => c !== undefined && KUBE_ROUTER_CHAIN.test(c));
  const rules: ChainRule[] = [];
  for (const line of filterSave.split('\n')) {
    const m = /^-A (\S+) (.*)$/.exec(line);
    if (!m?.[1] || !m[2] || KUBE_ROUTER_CHAIN.test(m[1])) continue;
    const spec = splitRule(m[2]);
    const j = spec.lastIndexOf('-j');
    const target = j >= 0 ? (spec[j + 1] ?? '') : '';
    if (m[2].includes(KUBE_ROUTER_JUMP_COMMENT) || isGate(m[2]) || KUBE_ROUTER_CHAIN.test(target)) {
      rules.push({ chain: m[1], spec });
    }
  }
  const ipsets = ipsetNames
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => KUBE_ROUTER_IPSET.test(s));
  return { rules, chains, ipsets };
}
