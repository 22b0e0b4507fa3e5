/**
 * Isolation on the real stack (docs/security.md): each control is shown by a hostile evaluation that tries and
 * fails, next to the allowed case that works. The network cases run under kube-router's NetworkPolicy enforcement;
 * every target is first shown reachable from the host, so a refusal inside the pod is the policy's doing. All
 * targets are on this machine: listeners the test opens on the node's address and on a link-local address it adds.
 */
import { spawnSync } from 'node:child_process';
import { createConnection, createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { createKubeClients } from '../../src/kube/clients.js';
import type { EvaluationRecord } from '../../src/spec/record.js';
import { manifestBuilder, newId, startEvaluationHarness, type EvaluationHarness } from '../support/evaluation-harness.js';
import { BUSYBOX } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `iso-${runTag}`;
const peerNamespace = `iso-peer-${runTag}`;
/** A link-local address only this run uses (never 169.254.169.254: something outside the machine answers there). */
const linkLocal = `169.254.77.${2 + Math.floor(Math.random() * 250)}`;

let harness: EvaluationHarness;
let nodeIp: string;
const servers: Server[] = [];
/** Ports of the listeners: one users may open, one the operator opens for everyone, the S3 relay. */
const ports = { user: 0, operator: 0, s3: 0 };
let peerIp: string;
let linkLocalAdded = false;

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    resources: { cpu: '100m', memory: '32Mi', ephemeralStorage: '32Mi' },
    timeoutSeconds: 120,
    retries: { maxAttempts: 1, backoffSeconds: 1 },
  },
});

/** Listens on `host`; every connection gets `ok` and is closed. */
async function listen(host: string, port = 0): Promise<number> {
  const server = createServer((socket) => socket.end('ok\n'));
  servers.push(server);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return (server.address() as { port: number }).port;
}

/** Relays `host:0` to the S3 server (which listens on loopback), as S3 would be reachable on a real network. */
async function relayS3(host: string): Promise<number> {
  const target = new URL(process.env.ASSAY_S3_ENDPOINT ?? 'http://127.0.0.1:17070');
  const server = createServer((socket) => {
    const upstream = createConnection(Number(target.port), target.hostname);
    socket.pipe(upstream).pipe(socket);
    upstream.on('error', () => socket.destroy());
    socket.on('error', () => upstream.destroy());
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as { port: number }).port;
}

/** What the pod's probe does, from the host: connect, send an HTTP HEAD, and see whether anything comes back. */
async function answers(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port, timeout: 3000 });
    socket.on('connect', () => socket.write('HEAD / HTTP/1.0\r\n\r\n'));
    socket.once('data', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.on('error', () => resolve(false));
    socket.on('close', () => resolve(false));
  });
}

/**
 * A shell script that waits (up to 20 s) until `ready` answers (so the enforcer knows the pod: a refusal below is the
 * policy, not the short fail-closed window of a pod the enforcer has not seen yet), then probes each target and
 * writes `{"name":"open"|"refused",…}` to the termination message.
 */
function probeScript(ready: string, targets: Record<string, string>): string {
  const probe =
    'probe() { out=$(printf "HEAD / HTTP/1.0\\r\\n\\r\\n" | timeout 5 nc -w 3 $1 $2 2>/dev/null | head -c 64); ' +
    '[ -n "$out" ] && echo open || echo refused; }';
  const wait = `i=0; until [ "$(probe ${ready})" = open ] || [ $i -ge 40 ]; do i=$((i+1)); sleep 0.5; done`;
  // Inside the shell's double quotes, JSON's quotes are escaped.
  const fields = [
    `\\"ready\\":\\"$(probe ${ready})\\"`,
    ...Object.entries(targets).map(([name, target]) => `\\"${name}\\":\\"$(probe ${target})\\"`),
    '\\"token\\":\\"$([ -e /var/run/secrets/kubernetes.io/serviceaccount/token ] && echo present || echo absent)\\"',
  ];
  return `${probe}; ${wait}; echo "{${fields.join(',')}}" > /dev/termination-log`;
}

async function run(spec: Record<string, unknown>): Promise<EvaluationRecord> {
  const started = await harness.client.start(manifest(spec), { idempotencyKey: newId('iso') });
  return harness.client.result(started.evaluationId);
}

beforeAll(async () => {
  const added = spawnSync('ip', ['addr', 'add', `${linkLocal}/32`, 'dev', 'lo'], { encoding: 'utf8' });
  if (added.status !== 0) throw new Error(`ip addr add ${linkLocal}/32 dev lo: ${added.stderr}`);
  linkLocalAdded = true;
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  const node = (await kube.core.listNode()).items[0]!;
  nodeIp = node.status!.addresses!.find((a) => a.type === 'InternalIP')!.address;
  ports.user = await listen(nodeIp);
  await listen(linkLocal, ports.user);
  ports.operator = await listen(nodeIp);
  ports.s3 = await relayS3(nodeIp);
  // The cluster's policy: gVisor offered, images from the stack's own prefix, one operator destination.
  harness = await startEvaluationHarness({
    taskQueue: `assay-iso-${runTag}`,
    security: {
      runtimeClasses: { gvisor: 'gvisor' },
      images: { allowedPrefixes: ['localhost/assay/'] },
      network: { operatorEgress: [{ cidr: `${nodeIp}/32`, ports: [ports.operator] }] },
    },
  });

  // A pod of another team, in a namespace without policies: reachable from the host.
  await harness.kube.core.createNamespace({ body: { metadata: { name: peerNamespace } } });
  await harness.kube.core.createNamespacedPod({
    namespace: peerNamespace,
    body: {
      metadata: { name: 'peer' },
      spec: {
        containers: [
          {
            name: 'listen',
            image: BUSYBOX,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', 'while :; do echo ok | nc -l -p 8080; done'],
          },
        ],
      },
    },
  });
  for (let i = 0; ; i++) {
    const pod = await harness.kube.core.readNamespacedPod({ name: 'peer', namespace: peerNamespace });
    if (pod.status?.phase === 'Running' && pod.status.podIP) {
      peerIp = pod.status.podIP;
      break;
    }
    if (i > 120) throw new Error('the peer pod did not start');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}, 180_000);

afterAll(async () => {
  for (const server of servers) server.close();
  if (linkLocalAdded) spawnSync('ip', ['addr', 'del', `${linkLocal}/32`, 'dev', 'lo']);
  await harness?.kube.core.deleteNamespace({ name: peerNamespace }).catch(() => undefined);
  await harness?.kube.core.deleteNamespace({ name: `assay-${team}` }).catch(() => undefined);
  await harness?.close();
});

describe('network isolation (kube-router enforcing NetworkPolicy)', () => {
  it.concurrent('with network: none, the pod reaches only the operator destination', async () => {
    const apiserver = new URL(harness.kube.config.getCurrentCluster()!.server);
    const targets = {
      s3: `${nodeIp} ${ports.s3}`,
      apiserver: `${nodeIp} ${apiserver.port}`,
      kubelet: `${nodeIp} 20250`,
      peer: `${peerIp} 8080`,
      linkLocal: `${linkLocal} ${ports.user}`,
      userListener: `${nodeIp} ${ports.user}`,
    };
    // Each target answers from the host (the checks below are the policy, not a dead target).
    for (const target of Object.values(targets)) {
      const [host, port] = target.split(' ');
      expect([target, await answers(host!, Number(port))]).toEqual([target, true]);
    }
    const record = await run({
      command: ['sh', '-c', probeScript(`${nodeIp} ${ports.operator}`, targets)],
    });
    expect(record.outcome).toBe('Succeeded');
    expect(record.result).toEqual({
      ready: 'open',
      s3: 'refused',
      apiserver: 'refused',
      kubelet: 'refused',
      peer: 'refused',
      linkLocal: 'refused',
      userListener: 'refused',
      token: 'absent',
    });
    expect(record.security).toMatchObject({ runtime: 'default', seccomp: 'runtimeDefault', dns: null });
    expect(record.security?.appArmorSkipped).toContain('security.appArmor: off');
  });

  it.concurrent('an egress allow-list opens its ports and nothing else; link-local stays closed', async () => {
    const apiserver = new URL(harness.kube.config.getCurrentCluster()!.server);
    const record = await run({
      network: { egress: [{ cidr: '0.0.0.0/0', ports: [ports.user] }] },
      command: [
        'sh',
        '-c',
        probeScript(`${nodeIp} ${ports.user}`, {
          linkLocal: `${linkLocal} ${ports.user}`,
          apiserver: `${nodeIp} ${apiserver.port}`,
        }),
      ],
    });
    expect(record.outcome).toBe('Succeeded');
    expect(record.result).toEqual({ ready: 'open', linkLocal: 'refused', apiserver: 'refused', token: 'absent' });
  });
});

describe('syscalls and runtime', () => {
  it.concurrent('under strict seccomp, personality, unshare and mount are refused; under the default, personality works', async () => {
    const script =
      'linux32 true 2>/dev/null; p=$?; unshare -r true 2>/dev/null; u=$?; mkdir -p /tmp/m; ' +
      'mount -t tmpfs none /tmp/m 2>/dev/null; m=$?; echo "{\\"personality\\":$p,\\"unshare\\":$u,\\"mount\\":$m}" > /dev/termination-log';
    const [strict, plain] = await Promise.all([
      run({ security: { seccomp: 'strict' }, command: ['sh', '-c', script] }),
      run({ command: ['sh', '-c', script] }),
    ]);
    expect(strict.outcome).toBe('Succeeded');
    expect(strict.security).toMatchObject({ seccomp: 'strict', seccompProfile: 'assay/strict.json' });
    const result = strict.result as Record<string, number>;
    expect(result.personality).not.toBe(0);
    expect(result.unshare).not.toBe(0);
    expect(result.mount).not.toBe(0);
    expect((plain.result as Record<string, number>).personality).toBe(0);
  });
});

describe('sandboxed runtime', () => {
  it.concurrent('under gVisor the kernel is gVisor’s, and logs, exit code, result and artifacts work as under runc', async () => {
    const record = await run({
      security: { runtime: 'gvisor' },
      result: { maxBytes: '64Ki' },
      artifacts: { paths: ['.'], maxBytes: '1Mi', maxFiles: 10 },
      command: [
        'sh',
        '-c',
        // dmesg needs a capability the pod does not have (also under gVisor); the kernel's name says it.
        'uname -a; echo careful >&2; ' +
          'printf \'{"sandbox":"gvisor"}\' > "$ASSAY_RESULT_PATH"; echo hello > "$ASSAY_ARTIFACTS_DIR/a.txt"; exit 3',
      ],
    });
    expect(record).toMatchObject({ outcome: 'Failed', exitCode: 3, result: { sandbox: 'gvisor' } });
    expect(record.security).toMatchObject({ runtime: 'gvisor', runtimeClassName: 'gvisor' });
    const logs = record.attempts[0]!.logs!;
    expect(logs.split).toBe(true);
    const stdout = (await harness.store.getBytes(logs.stdout!)).toString();
    expect(stdout).toMatch(/^Linux \S+ \d+\.\d+\.\d+-gvisor /);
    expect((await harness.store.getBytes(logs.stderr!)).toString()).toBe('careful\n');
    expect(record.artifacts.map((a) => a.path)).toEqual(['a.txt']);
  });
});

describe('what else an attacker tries', () => {
  it.concurrent('a fork bomb is contained and the evaluation fails with ProcessLimitReached', async () => {
    // Memory enough for the processes up to the limit, so the process limit is what stops it.
    const record = await run({
      resources: { cpu: '200m', memory: '512Mi', ephemeralStorage: '32Mi' },
      command: ['sh', '-c', 'while :; do sleep 300 & done'],
    });
    expect(record).toMatchObject({ outcome: 'Failed', reason: 'ProcessLimitReached' });
    expect(record.attempts).toHaveLength(1);
  });

  it.concurrent('a disk filler is Failed with EphemeralStorageExceeded, not retried as infrastructure', async () => {
    const record = await run({
      // The kubelet finds the overuse on its own schedule (eviction manager every 10 s, from container stats that
      // lag under load): one CI run took more than 60 s. The sleep only bounds a failure; eviction ends it sooner.
      retries: { maxAttempts: 2, backoffSeconds: 1 },
      timeoutSeconds: 240,
      command: ['sh', '-c', 'dd if=/dev/zero of=/tmp/fill bs=1M count=64; sleep 200'],
    });
    expect(record).toMatchObject({ outcome: 'Failed', reason: 'EphemeralStorageExceeded' });
    expect(record.attempts).toHaveLength(1);
  });

  it.concurrent('a runtime the cluster lacks and an image outside its registries are configuration errors naming the cluster', async () => {
    const [kata, foreign] = await Promise.all([
      run({ security: { runtime: 'kata' }, command: ['true'] }),
      run({ image: 'docker.io/library/busybox:1.36', command: ['true'] }),
    ]);
    expect(kata).toMatchObject({ outcome: 'ConfigurationError', reason: 'NoClusterAvailable' });
    expect(kata.message).toContain('local: no kata runtime (offers default, gvisor');
    expect(foreign).toMatchObject({ outcome: 'ConfigurationError', reason: 'NoClusterAvailable' });
    expect(foreign.message).toContain('local: image docker.io/library/busybox:1.36 is not from an allowed registry');
    expect(kata.attempts).toHaveLength(0);
  });
});
