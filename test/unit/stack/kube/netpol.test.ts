import { describe, expect, it } from '@jest/globals';
import { chainRules, kubeRouterLeftovers, planGate, splitRule } from '../../../../src/stack/kube/netpol.js';

const jump = '-m comment --comment "kube-router netpol - TEMCG2JMHZYE7H7T" -j KUBE-ROUTER-FORWARD';
const gate =
  '-s 10.244.0.0/24 -i assay-cni0 -m conntrack --ctstate NEW -m comment --comment "assay netpol gate" -j REJECT --reject-with icmp-port-unreachable';
const proxy =
  '-m conntrack --ctstate NEW -m comment --comment "kubernetes load balancer firewall" -j KUBE-PROXY-FIREWALL';

describe('splitRule', () => {
  it('keeps quoted comments whole and unescapes them', () => {
    expect(splitRule('-m comment --comment "kube-router netpol - X" -j KUBE-ROUTER-INPUT')).toEqual([
      '-m',
      'comment',
      '--comment',
      'kube-router netpol - X',
      '-j',
      'KUBE-ROUTER-INPUT',
    ]);
    expect(splitRule('--comment "say \\"hi\\"" -j ACCEPT')).toEqual([
      '--comment',
      'say "hi"',
      '-j',
      'ACCEPT',
    ]);
  });
});

describe('chainRules', () => {
  it('lists one chain of `iptables -S` output in order, without policy lines', () => {
    const listing = ['-P FORWARD ACCEPT', `-A FORWARD ${jump}`, '-A INPUT -j X', `-A FORWARD ${proxy}`].join(
      '\n',
    );
    expect(chainRules(listing, 'FORWARD')).toEqual([jump, proxy]);
  });
});

describe('planGate', () => {
  it('keeps one current gate right after the jump', () => {
    expect(planGate([jump, gate, proxy], 'FORWARD', true)).toEqual({ action: 'keep' });
  });

  it('waits while kube-router has not inserted its jump', () => {
    expect(planGate([proxy], 'FORWARD', false).action).toBe('wait');
    // A jump to another chain's kube-router chain does not count.
    expect(planGate([jump], 'INPUT', false).action).toBe('wait');
  });

  it('inserts after the jump wherever the jump is', () => {
    expect(planGate([jump, proxy], 'FORWARD', false)).toEqual({ action: 'place', remove: [], position: 2 });
    expect(planGate([proxy, jump], 'FORWARD', false)).toEqual({ action: 'place', remove: [], position: 3 });
  });

  it('moves a gate that ended up before the jump, counting its removal', () => {
    expect(planGate([gate, proxy, jump], 'FORWARD', true)).toEqual({
      action: 'place',
      remove: [gate],
      position: 3,
    });
  });

  it('replaces duplicate gates and a gate of an older spec', () => {
    expect(planGate([jump, gate, gate], 'FORWARD', true)).toEqual({
      action: 'place',
      remove: [gate, gate],
      position: 2,
    });
    expect(planGate([jump, gate], 'FORWARD', false)).toEqual({
      action: 'place',
      remove: [gate],
      position: 2,
    });
  });
});

describe('kubeRouterLeftovers', () => {
  const save = [
    '*filter',
    ':INPUT ACCEPT [0:0]',
    ':FORWARD ACCEPT [0:0]',
    ':KUBE-FORWARD - [0:0]',
    ':KUBE-NWPLCY-DEFAULT - [0:0]',
    ':KUBE-POD-FW-T4EKECOCDOKBFO4U - [0:0]',
    ':KUBE-ROUTER-FORWARD - [0:0]',
    ':KUBE-ROUTER-INPUT - [0:0]',
    '-A INPUT -m comment --comment "kube-router netpol - 4IA2OSFRMVNDXBVV" -j KUBE-ROUTER-INPUT',
    '-A INPUT -j KUBE-FIREWALL',
    `-A FORWARD ${jump}`,
    `-A FORWARD ${gate}`,
    `-A FORWARD ${proxy}`,
    '-A KUBE-ROUTER-FORWARD -s 10.244.0.2/32 -j KUBE-POD-FW-T4EKECOCDOKBFO4U',
    '-A KUBE-POD-FW-T4EKECOCDOKBFO4U -s 10.244.0.2/32 -j KUBE-NWPLCY-DEFAULT',
    'COMMIT',
  ].join('\n');

  it("finds its jumps, our gate, its chains and its ipsets, and nothing of kube-proxy's or the kubelet's", () => {
    const ipsets = ['KUBE-SRC-ABCDEF2345', 'inet6:KUBE-DST-ZZZ234', 'KUBE-OTHER', 'someone-else'].join('\n');
    const left = kubeRouterLeftovers(save, ipsets);
    expect(left.rules).toEqual([
      {
        chain: 'INPUT',
        spec: [
          '-m',
          'comment',
          '--comment',
          'kube-router netpol - 4IA2OSFRMVNDXBVV',
          '-j',
          'KUBE-ROUTER-INPUT',
        ],
      },
      { chain: 'FORWARD', spec: splitRule(jump) },
      { chain: 'FORWARD', spec: splitRule(gate) },
    ]);
    expect(left.chains).toEqual([
      'KUBE-NWPLCY-DEFAULT',
      'KUBE-POD-FW-T4EKECOCDOKBFO4U',
      'KUBE-ROUTER-FORWARD',
      'KUBE-ROUTER-INPUT',
    ]);
    expect(left.ipsets).toEqual(['KUBE-SRC-ABCDEF2345', 'inet6:KUBE-DST-ZZZ234']);
  });

  it('finds nothing in a clean table', () => {
    expect(
      kubeRouterLeftovers('*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j KUBE-FIREWALL\nCOMMIT\n', ''),
    ).toEqual({
      rules: [],
      chains: [],
      ipsets: [],
    });
  });
});
