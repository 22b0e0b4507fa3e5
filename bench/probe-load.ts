/**
 * Benchmark of the cluster probe's load (docs/multi-cluster.md, "Health and capacity"): what one round of
 * `createClusterProber` — the real prober, its real request code — asks of the fleet's API servers and costs the
 * worker, against a baseline in the same run. Prints figures; asserts nothing beyond the probe's own answers. Needs
 * nothing running (openssl makes the certificates):
 *   npx tsx bench/probe-load.ts [--clusters 20] [--nodes 100] [--pods-per-node 10] [--rounds 20] [--warmup 3]
 *
 * The fleet is simulated, not kwok: a child process serves one fake API server per cluster on 127.0.0.1 over HTTPS
 * (certificates from the local stack's PKI code, ECDSA P-256; a bearer token checked on every request), so the
 * benchmark's process holds the prober alone and its CPU time is the probe's. Each server answers `/readyz`,
 * `/api/v1/nodes` and `/api/v1/pods` (honouring `fieldSelector` on `status.phase`) with objects shaped like a real
 * cluster's — managed fields, owner references, probes, the service-account volume, 30 images per node — so the
 * byte counts mean something: `--nodes` nodes (16 or 32 cores; every fifth cluster has a tenth of its nodes with 8
 * A100s; one node in 50 cordoned), `--pods-per-node` non-terminated pods bound to each (two DaemonSet pods, two of
 * Assay's evaluation pods, the rest Deployment pods), one completed Job pod per node the field selector leaves out,
 * and a queued evaluation pod per 20 nodes. The bodies are encoded once: a real API server encodes every LIST again.
 *
 * Every round probes the fleet, then the baseline — 1 cluster × 1 node × `--pods-per-node` pods, the same code —
 * so both see the same machine. Per round: the API requests the servers counted (and the prober's own count), the
 * response bytes, the TCP/TLS connections, the wall time and the benchmark process's CPU time (`process.cpuUsage`);
 * then the load that makes at `placement.probeIntervalSeconds`. Every view is checked against the fleet it simulates.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:https';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { Command } from 'commander';
import { createClusterProber, type ProbeRound } from '../src/placement/probe.js';
import { labelKeys, managedByValue } from '../src/spec/kube-labels.js';
import { placementConfigSchema } from '../src/spec/placement-config.js';
import { clusterRegistrySchema } from '../src/spec/worker-config.js';
import { ensurePki } from '../src/stack/kube/pki.js';

// ---------------------------------------------------------------------------------------------------------------
// The simulated cluster (child process)

/** What one fake API server simulates. */
interface ClusterSpec {
  name: string;
  nodes: number;
  podsPerNode: number;
  gpu: boolean;
  seed: number;
}

/** What the probe of a cluster should report, from the simulation's own counts. */
interface Expected {
  nodes: number;
  schedulable: number;
  cpuMillisTotal: number;
  gpusTotal: number;
  running: number;
  queued: number;
}

/** One server's counters since it started. */
interface ServerStats {
  requests: Record<string, number>;
  bytes: Record<string, number>;
  connections: number;
  tlsResumed: number;
  /** LISTs without `resourceVersion=0` (a real server would read them from etcd). */
  notFromCache: number;
  rejected: number;
  acceptEncoding: string[];
}

type ToChild =
  { type: 'start'; clusters: ClusterSpec[]; cert: string; key: string; token: string } | { type: 'stats' };
type FromChild =
  | {
      type: 'ready';
      ports: Record<string, number>;
      expected: Record<string, Expected>;
      sizes: { nodeBytes: number; podBytes: number; podsBody: number; podsGzip: number; nodesGzip: number };
    }
  | { type: 'stats'; stats: Record<string, ServerStats> };

/** A fixed-seed generator (xorshift32), so every run serves the same fleet. */
function generator(seed: number): () => number {
  let x = seed | 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** `managedFields[].fieldsV1` of an object: every field it sets, as the API server records who owns it. */
function fieldsOf(value: unknown): unknown {
  if (Array.isArray(value))
    return Object.fromEntries(
      value.map((item: unknown, i) => {
        if (typeof item !== 'object' || item === null) return [`v:${JSON.stringify(item)}`, {}];
        const key = Object.entries(item).find(([k]) => ['name', 'type', 'ip', 'key'].includes(k));
        return [key !== undefined ? `k:{"${key[0]}":${JSON.stringify(key[1])}}` : `i:${i}`, fieldsOf(item)];
      }),
    );
  if (typeof value !== 'object' || value === null) return {};
  return {
    '.': {},
    ...Object.fromEntries(
      Object.entries(value)
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => [`f:${k}`, fieldsOf(v)]),
    ),
  };
}

const GiKi = 1024 * 1024;
const nodeTypes = [
  { instance: 'm6i.4xlarge', cpuMillis: 15_890, memoryKi: 61_432_796, gpus: 0 },
  { instance: 'm6i.8xlarge', cpuMillis: 31_850, memoryKi: 127_052_732, gpus: 0 },
];
const gpuNodeType = { instance: 'p4de.24xlarge', cpuMillis: 95_690, memoryKi: 1_176_329_604, gpus: 8 };
const teams = ['nlp', 'vision', 'speech', 'ranking'];
const apps = ['web', 'search', 'checkout', 'payments', 'catalog', 'recommender', 'gateway', 'auth'];

function simulate(cluster: ClusterSpec): { nodes: object[]; pods: object[]; expected: Expected } {
  const rand = generator(cluster.seed);
  const hex = (n: number): string => {
    let out = '';
    while (out.length < n)
      out += Math.floor(rand() * 2 ** 32)
        .toString(16)
        .padStart(8, '0');
    return out.slice(0, n);
  };
  const uid = (): string => `${hex(8)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rand() * items.length)]!;
  const time = (daysAgo: number): string =>
    new Date(Date.UTC(2026, 11, 1) - Math.floor(daysAgo * 86_400_000 * rand()))
      .toISOString()
      .replace(/\.\d+Z$/, 'Z');
  const expected: Expected = {
    nodes: cluster.nodes,
    schedulable: 0,
    cpuMillisTotal: 0,
    gpusTotal: 0,
    running: 0,
    queued: 0,
  };
  const nodes: object[] = [];
  const pods: object[] = [];
  const zone = `eu-west-1${pick(['a', 'b', 'c'])}`;

  const images = Array.from({ length: 30 }, (_, i) => {
    const repo = `registry.example.com/${pick(apps)}/${pick(['api', 'worker', 'sidecar', 'job'])}-${i}`;
    return {
      names: [`${repo}@sha256:${hex(64)}`, `${repo}:v1.${Math.floor(rand() * 90)}.${i}`],
      sizeBytes: Math.floor(20e6 + rand() * 900e6),
    };
  });

  const podOf = (opts: {
    name: string;
    namespace: string;
    node: { name: string; ip: string } | null;
    labels: Record<string, string>;
    owner: { kind: string; name: string };
    image: string;
    cpu: string;
    memory: string;
    phase: 'Running' | 'Pending' | 'Succeeded';
  }): object => {
    const volume = `kube-api-access-${hex(5)}`;
    const started = time(20);
    const podSpec = {
      volumes: [
        {
          name: volume,
          projected: {
            sources: [
              { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
              { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
              {
                downwardAPI: {
                  items: [
                    { path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } },
                  ],
                },
              },
            ],
            defaultMode: 420,
          },
        },
      ],
      containers: [
        {
          name: 'main',
          image: opts.image,
          ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
          env: [
            { name: 'LOG_LEVEL', value: 'info' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'status.podIP' } } },
            { name: 'OTEL_EXPORTER_OTLP_ENDPOINT', value: 'http://otel-collector.observability:4317' },
          ],
          resources: {
            limits: { cpu: opts.cpu, memory: opts.memory },
            requests: { cpu: opts.cpu, memory: opts.memory },
          },
          volumeMounts: [
            { name: volume, readOnly: true, mountPath: '/var/run/secrets/kubernetes.io/serviceaccount' },
          ],
          readinessProbe: {
            httpGet: { path: '/healthz', port: 8080, scheme: 'HTTP' },
            timeoutSeconds: 1,
            periodSeconds: 10,
            successThreshold: 1,
            failureThreshold: 3,
          },
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
          securityContext: {
            capabilities: { drop: ['ALL'] },
            runAsNonRoot: true,
            allowPrivilegeEscalation: false,
          },
        },
      ],
      restartPolicy: opts.owner.kind === 'Job' ? 'Never' : 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      serviceAccount: 'default',
      ...(opts.node !== null ? { nodeName: opts.node.name } : {}),
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      schedulerName: 'default-scheduler',
      tolerations: [
        {
          key: 'node.kubernetes.io/not-ready',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      priority: 0,
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    };
    const ready = opts.phase === 'Running' ? 'True' : 'False';
    const status =
      opts.node === null
        ? {
            phase: opts.phase,
            conditions: [
              {
                type: 'PodScheduled',
                status: 'False',
                lastProbeTime: null,
                lastTransitionTime: started,
                reason: 'Unschedulable',
                message: `0/${cluster.nodes} nodes are available: ${cluster.nodes} Insufficient cpu. preemption: 0/${cluster.nodes} nodes are available: ${cluster.nodes} No preemption victims found for incoming pod.`,
              },
            ],
            qosClass: 'Guaranteed',
          }
        : {
            phase: opts.phase,
            conditions: [
              'PodReadyToStartContainers',
              'Initialized',
              'Ready',
              'ContainersReady',
              'PodScheduled',
            ].map((type) => ({
              type,
              status: type === 'Ready' || type === 'ContainersReady' ? ready : 'True',
              lastProbeTime: null,
              lastTransitionTime: started,
              ...(ready === 'False' && type === 'Ready' ? { reason: 'PodCompleted' } : {}),
            })),
            hostIP: opts.node.ip,
            hostIPs: [{ ip: opts.node.ip }],
            podIP: `10.244.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}`,
            podIPs: [{ ip: `10.244.${Math.floor(rand() * 256)}.${Math.floor(rand() * 256)}` }],
            startTime: started,
            containerStatuses: [
              {
                name: 'main',
                state:
                  opts.phase === 'Succeeded'
                    ? {
                        terminated: {
                          exitCode: 0,
                          reason: 'Completed',
                          startedAt: started,
                          finishedAt: started,
                          containerID: `containerd://${hex(64)}`,
                        },
                      }
                    : { running: { startedAt: started } },
                lastState: {},
                ready: opts.phase === 'Running',
                restartCount: 0,
                image: opts.image,
                imageID: `${opts.image.split(':')[0]}@sha256:${hex(64)}`,
                containerID: `containerd://${hex(64)}`,
                started: opts.phase === 'Running',
              },
            ],
            qosClass: 'Guaranteed',
          };
    const ownerUid = uid();
    const metadata = {
      name: opts.name,
      generateName: `${opts.owner.name}-`,
      namespace: opts.namespace,
      uid: uid(),
      resourceVersion: String(100_000_000 + Math.floor(rand() * 9e8)),
      creationTimestamp: started,
      labels: opts.labels,
      annotations: { 'kubectl.kubernetes.io/default-container': 'main', 'prometheus.io/scrape': 'true' },
      ownerReferences: [
        {
          apiVersion: opts.owner.kind === 'Job' ? 'batch/v1' : 'apps/v1',
          kind: opts.owner.kind,
          name: opts.owner.name,
          uid: ownerUid,
          controller: true,
          blockOwnerDeletion: true,
        },
      ],
    };
    return {
      metadata: {
        ...metadata,
        managedFields: [
          {
            manager: 'kube-controller-manager',
            operation: 'Update',
            apiVersion: 'v1',
            time: started,
            fieldsType: 'FieldsV1',
            fieldsV1: {
              'f:metadata': fieldsOf({ ...metadata, name: undefined, uid: undefined }),
              'f:spec': fieldsOf(podSpec),
            },
          },
          {
            manager: 'kubelet',
            operation: 'Update',
            apiVersion: 'v1',
            time: started,
            fieldsType: 'FieldsV1',
            fieldsV1: { 'f:status': fieldsOf({ ...status, containerStatuses: 'atomic' }) },
            subresource: 'status',
          },
        ],
      },
      spec: podSpec,
      status,
    };
  };

  /** One of Assay's evaluation pods (its Job's only pod): Running on `node`, or Pending (unschedulable) when null. */
  const evaluationPod = (
    node: { name: string; ip: string } | null,
    tag: string,
    cpu: string,
    memory: string,
  ): object => {
    const team = pick(teams);
    const id = `01j${hex(23)}`;
    return podOf({
      name: `assay-${id}-1-${hex(5)}`,
      namespace: `assay-${team}`,
      node,
      labels: {
        [labelKeys.managedBy]: managedByValue,
        [labelKeys.evaluationId]: id,
        [labelKeys.attempt]: '1',
        [labelKeys.team]: team,
        'batch.kubernetes.io/job-name': `assay-${id}-1`,
      },
      owner: { kind: 'Job', name: `assay-${id}-1` },
      image: `registry.example.com/evals/${team}:${tag}`,
      cpu,
      memory,
      phase: node === null ? 'Pending' : 'Running',
    });
  };

  for (let n = 0; n < cluster.nodes; n++) {
    const type = cluster.gpu && n % 10 === 0 ? gpuNodeType : pick(nodeTypes);
    const name = `ip-10-0-${Math.floor(n / 250)}-${n % 250}.${zone.slice(0, -1)}.compute.internal`;
    const ip = `10.0.${Math.floor(n / 250)}.${n % 250}`;
    const cordoned = n % 50 === 49;
    const created = time(90);
    const labels: Record<string, string> = {
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/instance-type': type.instance,
      'beta.kubernetes.io/os': 'linux',
      'eks.amazonaws.com/capacityType': pick(['ON_DEMAND', 'SPOT']),
      'eks.amazonaws.com/nodegroup': type.gpus > 0 ? 'gpu' : 'general',
      'eks.amazonaws.com/nodegroup-image': `ami-${hex(17)}`,
      'failure-domain.beta.kubernetes.io/region': 'eu-west-1',
      'failure-domain.beta.kubernetes.io/zone': zone,
      'k8s.io/cloud-provider-aws': hex(32),
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': name,
      'kubernetes.io/os': 'linux',
      'node.kubernetes.io/instance-type': type.instance,
      'topology.ebs.csi.aws.com/zone': zone,
      'topology.kubernetes.io/region': 'eu-west-1',
      'topology.kubernetes.io/zone': zone,
      ...(type.gpus > 0
        ? { 'nvidia.com/gpu.product': 'NVIDIA-A100-SXM4-80GB', 'nvidia.com/gpu.count': '8' }
        : {}),
    };
    const allocatable: Record<string, string> = {
      cpu: `${type.cpuMillis}m`,
      'ephemeral-storage': '95491281146',
      'hugepages-1Gi': '0',
      'hugepages-2Mi': '0',
      memory: `${type.memoryKi}Ki`,
      pods: '110',
      ...(type.gpus > 0 ? { 'nvidia.com/gpu': String(type.gpus) } : {}),
    };
    const nodeSpec = {
      podCIDR: `10.244.${n % 256}.0/24`,
      podCIDRs: [`10.244.${n % 256}.0/24`],
      providerID: `aws:///${zone}/i-${hex(17)}`,
      ...(cordoned
        ? {
            unschedulable: true,
            taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: created }],
          }
        : {}),
    };
    const conditions = [
      ['MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'],
      ['DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'],
      ['PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'],
      ['Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'],
    ].map(([type_, status, reason, message]) => ({
      type: type_,
      status,
      lastHeartbeatTime: time(0.001),
      lastTransitionTime: created,
      reason,
      message,
    }));
    const status = {
      capacity: {
        ...allocatable,
        cpu: String(Math.ceil(type.cpuMillis / 1000)),
        memory: `${type.memoryKi + GiKi}Ki`,
      },
      allocatable,
      conditions,
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'InternalDNS', address: name },
        { type: 'Hostname', address: name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
      nodeInfo: {
        machineID: hex(32),
        systemUUID: `ec2${hex(5)}-${hex(4)}-${hex(4)}-${hex(4)}-${hex(12)}`,
        bootID: uid(),
        kernelVersion: '6.1.115-126.197.amzn2023.x86_64',
        osImage: 'Amazon Linux 2023.6.20241121',
        containerRuntimeVersion: 'containerd://1.7.23',
        kubeletVersion: 'v1.31.2-eks-94953ac',
        kubeProxyVersion: 'v1.31.2-eks-94953ac',
        operatingSystem: 'linux',
        architecture: 'amd64',
      },
      images: images.slice(0, 20 + Math.floor(rand() * 11)),
    };
    const metadata = {
      name,
      uid: uid(),
      resourceVersion: String(100_000_000 + Math.floor(rand() * 9e8)),
      creationTimestamp: created,
      labels,
      annotations: {
        'alpha.kubernetes.io/provided-node-ip': ip,
        'csi.volume.kubernetes.io/nodeid': `{"ebs.csi.aws.com":"i-${hex(17)}"}`,
        'node.alpha.kubernetes.io/ttl': '0',
        'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
      },
    };
    nodes.push({
      metadata: {
        ...metadata,
        managedFields: [
          ['kubelet', { 'f:metadata': fieldsOf({ labels, annotations: metadata.annotations }) }, undefined],
          ['kube-controller-manager', { 'f:spec': fieldsOf(nodeSpec) }, undefined],
          ['kubelet', { 'f:status': fieldsOf({ ...status, images: undefined }) }, 'status'],
        ].map(([manager, fieldsV1, subresource]) => ({
          manager,
          operation: 'Update',
          apiVersion: 'v1',
          time: created,
          fieldsType: 'FieldsV1',
          fieldsV1,
          ...(subresource !== undefined ? { subresource } : {}),
        })),
      },
      spec: nodeSpec,
      status,
    });
    if (!cordoned) {
      expected.schedulable++;
      expected.cpuMillisTotal += type.cpuMillis;
      expected.gpusTotal += type.gpus;
    }

    const node = { name, ip };
    for (let j = 0; j < cluster.podsPerNode; j++) {
      if (j < 2) {
        const ds = j === 0 ? 'kube-proxy' : 'aws-node';
        pods.push(
          podOf({
            name: `${ds}-${hex(5)}`,
            namespace: 'kube-system',
            node,
            labels: { 'k8s-app': ds, 'controller-revision-hash': hex(10), 'pod-template-generation': '3' },
            owner: { kind: 'DaemonSet', name: ds },
            image: `602401143452.dkr.ecr.eu-west-1.amazonaws.com/eks/${ds}:v1.31.2`,
            cpu: '100m',
            memory: '128Mi',
            phase: 'Running',
          }),
        );
      } else if (j < 4) {
        pods.push(evaluationPod(node, `2026.11.${j}`, pick(['1', '2']), pick(['2Gi', '4Gi'])));
        expected.running++;
      } else {
        const app = pick(apps);
        const hash = hex(10);
        pods.push(
          podOf({
            name: `${app}-${hash}-${hex(5)}`,
            namespace: app,
            node,
            labels: {
              app,
              'pod-template-hash': hash,
              'app.kubernetes.io/name': app,
              'app.kubernetes.io/part-of': 'shop',
            },
            owner: { kind: 'ReplicaSet', name: `${app}-${hash}` },
            image: `registry.example.com/${app}/api:v1.${Math.floor(rand() * 90)}.0`,
            cpu: pick(['250m', '500m', '1']),
            memory: pick(['256Mi', '512Mi', '1Gi']),
            phase: 'Running',
          }),
        );
      }
    }
    pods.push(
      podOf({
        name: `nightly-report-${hex(8)}-${hex(5)}`,
        namespace: 'batch',
        node,
        labels: { 'batch.kubernetes.io/job-name': `nightly-report-${hex(8)}` },
        owner: { kind: 'Job', name: `nightly-report-${hex(8)}` },
        image: 'registry.example.com/batch/report:v3.2.0',
        cpu: '500m',
        memory: '1Gi',
        phase: 'Succeeded',
      }),
    );
  }
  for (let q = 0; q < Math.ceil(cluster.nodes / 20); q++) {
    pods.push(evaluationPod(null, '2026.11.9', '8', '32Gi'));
    expected.queued++;
  }
  return { nodes, pods, expected };
}

/** A LIST's body as the API server writes it. */
function listBody(kind: string, items: object[]): Buffer {
  return Buffer.from(
    JSON.stringify({ kind, apiVersion: 'v1', metadata: { resourceVersion: '987654321' }, items }),
  );
}

/** The pods a `fieldSelector` of `status.phase` terms keeps; null for a selector the fake cannot serve. */
function selectPods(pods: object[], selector: string | null): object[] | null {
  if (selector === null || selector === '') return pods;
  const terms = selector.split(',').map((t) => /^status\.phase(!=|==|=)(\w+)$/.exec(t));
  if (terms.some((t) => t === null)) return null;
  return pods.filter((p) => {
    const phase = (p as { status: { phase: string } }).status.phase;
    return terms.every((t) => (t![1] === '!=' ? phase !== t![2] : phase === t![2]));
  });
}

async function serveFleet(): Promise<void> {
  const start = await new Promise<Extract<ToChild, { type: 'start' }>>((resolve) =>
    process.once('message', (m) => resolve(m as Extract<ToChild, { type: 'start' }>)),
  );
  const send = (m: FromChild): void => void process.send?.(m);
  const stats: Record<string, ServerStats> = {};
  const ports: Record<string, number> = {};
  const expected: Record<string, Expected> = {};
  let sizes: Extract<FromChild, { type: 'ready' }>['sizes'] | null = null;
  for (const spec of start.clusters) {
    const sim = simulate(spec);
    expected[spec.name] = sim.expected;
    const nodesBody = listBody('NodeList', sim.nodes);
    const podBodies = new Map<string, Buffer>();
    const podsFor = (selector: string | null): Buffer | null => {
      const key = selector ?? '';
      const known = podBodies.get(key);
      if (known !== undefined) return known;
      const selected = selectPods(sim.pods, selector);
      if (selected === null) return null;
      const body = listBody('PodList', selected);
      podBodies.set(key, body);
      return body;
    };
    const podsBody = podsFor('status.phase!=Succeeded,status.phase!=Failed')!;
    if (sizes === null) {
      // The first cluster of the fleet: its per-object sizes, and what gzip would make of its lists.
      const served = (sim.pods as { status: { phase: string } }[]).filter(
        (p) => p.status.phase !== 'Succeeded',
      );
      sizes = {
        nodeBytes: nodesBody.length / sim.nodes.length,
        podBytes: podsBody.length / served.length,
        podsBody: podsBody.length,
        podsGzip: gzipSync(podsBody).length,
        nodesGzip: gzipSync(nodesBody).length,
      };
    }
    const s: ServerStats = {
      requests: {},
      bytes: {},
      connections: 0,
      tlsResumed: 0,
      notFromCache: 0,
      rejected: 0,
      acceptEncoding: [],
    };
    stats[spec.name] = s;
    const server = createServer({ cert: start.cert, key: start.key }, (req, res) => {
      const url = new URL(req.url ?? '/', 'https://x');
      const path = url.pathname;
      const answer = (code: number, body: Buffer | string, type = 'application/json'): void => {
        const bytes = typeof body === 'string' ? Buffer.from(body) : body;
        s.requests[path] = (s.requests[path] ?? 0) + 1;
        s.bytes[path] = (s.bytes[path] ?? 0) + bytes.length;
        if (code !== 200) s.rejected++;
        res.writeHead(code, { 'content-type': type, 'content-length': bytes.length }).end(bytes);
      };
      const encoding = req.headers['accept-encoding'] ?? '(none)';
      if (!s.acceptEncoding.includes(encoding)) s.acceptEncoding.push(encoding);
      if (req.headers.authorization !== `Bearer ${start.token}`)
        return answer(401, '{"kind":"Status","code":401}');
      if (path.startsWith('/api/v1/') && url.searchParams.get('resourceVersion') !== '0') s.notFromCache++;
      if (path === '/readyz') return answer(200, 'ok', 'text/plain; charset=utf-8');
      if (path === '/api/v1/nodes') return answer(200, nodesBody);
      if (path === '/api/v1/pods') {
        const body = podsFor(url.searchParams.get('fieldSelector'));
        return body === null ? answer(400, '{"kind":"Status","code":400}') : answer(200, body);
      }
      return answer(404, '{"kind":"Status","code":404}');
    });
    server.on('secureConnection', (socket: TLSSocket) => {
      s.connections++;
      if (socket.isSessionReused()) s.tlsResumed++;
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    ports[spec.name] = (server.address() as AddressInfo).port;
  }
  process.on('message', (m) => {
    if ((m as ToChild).type === 'stats') send({ type: 'stats', stats });
  });
  send({ type: 'ready', ports, expected, sizes: sizes! });
}

// ---------------------------------------------------------------------------------------------------------------
// The prober (this process)

/** The child's next message of `type`. */
function next<T extends FromChild['type']>(
  child: ChildProcess,
  type: T,
): Promise<Extract<FromChild, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: unknown): void => {
      if ((m as FromChild).type !== type) return;
      child.off('message', onMessage);
      child.off('exit', onExit);
      resolve(m as Extract<FromChild, { type: T }>);
    };
    const onExit = (code: number | null): void => reject(new Error(`the fake API servers exited (${code})`));
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

async function fleetStats(child: ChildProcess): Promise<Record<string, ServerStats>> {
  const reply = next(child, 'stats');
  child.send({ type: 'stats' } satisfies ToChild);
  return (await reply).stats;
}

/** One fleet's figures of one round. */
interface RoundFigures {
  requests: number;
  proberRequests: number;
  byPath: Record<string, number>;
  bytes: number;
  bytesByPath: Record<string, number>;
  connections: number;
  tlsResumed: number;
  wallMs: number;
  cpuMs: number;
}

function roundFigures(
  names: readonly string[],
  before: Record<string, ServerStats>,
  after: Record<string, ServerStats>,
  round: ProbeRound,
  wallMs: number,
  cpuMs: number,
): RoundFigures {
  const f: RoundFigures = {
    requests: 0,
    proberRequests: Object.values(round.apiRequests).reduce((a, b) => a + b, 0),
    byPath: {},
    bytes: 0,
    bytesByPath: {},
    connections: 0,
    tlsResumed: 0,
    wallMs,
    cpuMs,
  };
  for (const name of names) {
    const a = after[name]!;
    const b = before[name]!;
    for (const [path, n] of Object.entries(a.requests)) {
      const d = n - (b.requests[path] ?? 0);
      f.requests += d;
      f.byPath[path] = (f.byPath[path] ?? 0) + d;
    }
    for (const [path, n] of Object.entries(a.bytes)) {
      const d = n - (b.bytes[path] ?? 0);
      f.bytes += d;
      f.bytesByPath[path] = (f.bytesByPath[path] ?? 0) + d;
    }
    f.connections += a.connections - b.connections;
    f.tlsResumed += a.tlsResumed - b.tlsResumed;
  }
  return f;
}

/** Throws unless every cluster of the round is healthy and reports what its simulation holds. */
function checkView(round: ProbeRound, expected: Record<string, Expected>): void {
  for (const [name, want] of Object.entries(expected)) {
    const h = round.view[name];
    if (h === undefined) continue;
    const got = {
      nodes: h.nodes?.total,
      schedulable: h.nodes?.schedulable,
      cpuMillisTotal: h.capacity.cpuMillis.total,
      gpusTotal: Object.values(h.capacity.gpus).reduce((a, g) => a + g.total, 0),
      running: h.running,
      queued: h.queued,
    };
    if (!h.healthy || JSON.stringify(got) !== JSON.stringify(want))
      throw new Error(
        `${name}: healthy ${h.healthy} (${h.reason}), ${JSON.stringify(got)} ≠ ${JSON.stringify(want)}`,
      );
  }
}

const sortedOf = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
const at = (sorted: readonly number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
const mean = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const MB = 1e6;

async function main(): Promise<void> {
  if (process.argv[2] === 'serve') return await serveFleet();
  const options = new Command()
    .option('--clusters <n>', 'clusters in the fleet', '20')
    .option('--nodes <n>', 'nodes per cluster', '100')
    .option('--pods-per-node <n>', 'non-terminated pods bound to each node', '10')
    .option('--rounds <n>', 'probe rounds timed', '20')
    .option('--warmup <n>', 'probe rounds before timing starts', '3')
    .parse()
    .opts<{ clusters: string; nodes: string; podsPerNode: string; rounds: string; warmup: string }>();
  const clusterCount = Number(options.clusters);
  const nodeCount = Number(options.nodes);
  const podsPerNode = Number(options.podsPerNode);
  const rounds = Number(options.rounds);
  const warmup = Number(options.warmup);
  const settings = placementConfigSchema.parse({});

  const dir = await mkdtemp(join(tmpdir(), 'assay-probe-load-'));
  const child = fork(fileURLToPath(import.meta.url), ['serve'], { execArgv: ['--import', 'tsx'] });
  try {
    const pki = await ensurePki(
      join(dir, 'pki'),
      [{ name: 'apiserver', commonName: 'kube-apiserver', server: true, ips: ['127.0.0.1'] }],
      { caCommonName: 'probe-load-ca', serviceAccountKeys: false },
    );
    const token = randomBytes(24).toString('base64url');
    const fleetNames = Array.from({ length: clusterCount }, (_, i) => `c${String(i).padStart(2, '0')}`);
    const clusters: ClusterSpec[] = [
      ...fleetNames.map((name, i) => ({
        name,
        nodes: nodeCount,
        podsPerNode,
        gpu: i % 5 === 0,
        seed: 1000 + i,
      })),
      { name: 'baseline', nodes: 1, podsPerNode, gpu: false, seed: 7 },
    ];
    const ready = next(child, 'ready');
    const generating = performance.now();
    child.send({
      type: 'start',
      clusters,
      cert: await readFile(pki.cert('apiserver'), 'utf8'),
      key: await readFile(pki.key('apiserver'), 'utf8'),
      token,
    } satisfies ToChild);
    const { ports, expected, sizes } = await ready;
    const generatedS = (performance.now() - generating) / 1000;

    const ca = (await readFile(pki.caCert)).toString('base64');
    const entries = [];
    for (const c of clusters) {
      const path = join(dir, `${c.name}.kubeconfig`);
      await writeFile(
        path,
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters: [{ name: ${c.name}, cluster: { server: "https://127.0.0.1:${ports[c.name]}", certificate-authority-data: ${ca} } }]`,
          `users: [{ name: assay-worker, user: { token: ${token} } }]`,
          `contexts: [{ name: ${c.name}, context: { cluster: ${c.name}, user: assay-worker } }]`,
          `current-context: ${c.name}`,
          '',
        ].join('\n'),
      );
      entries.push({ name: c.name, kubeconfig: { path }, gpuTypes: c.gpu ? ['a100'] : [] });
    }
    const registry = clusterRegistrySchema.parse(entries);
    const apiErrors: string[] = [];
    const proberOf = (names: readonly string[]) =>
      createClusterProber({
        registry: registry.filter((e) => names.includes(e.name)),
        settings,
        taskQueue: 'assay',
        onApiError: (cluster, code) => apiErrors.push(`${cluster} ${code}`),
      });
    const runs = [
      { label: 'fleet', names: fleetNames, prober: proberOf(fleetNames), figures: [] as RoundFigures[] },
      {
        label: 'baseline',
        names: ['baseline'],
        prober: proberOf(['baseline']),
        figures: [] as RoundFigures[],
      },
    ];

    const started = performance.now();
    for (let r = 0; r < warmup + rounds; r++) {
      for (const run of runs) {
        const before = await fleetStats(child);
        const cpu = process.cpuUsage();
        const t0 = performance.now();
        const round = await run.prober.probe();
        const wallMs = performance.now() - t0;
        const used = process.cpuUsage(cpu);
        const after = await fleetStats(child);
        checkView(round, expected);
        if (apiErrors.length > 0) throw new Error(`failed requests: ${apiErrors.join(', ')}`);
        if (r >= warmup)
          run.figures.push(
            roundFigures(run.names, before, after, round, wallMs, (used.user + used.system) / 1000),
          );
      }
    }
    const roundsS = (performance.now() - started) / 1000;
    const final = await fleetStats(child);

    const interval = settings.probeIntervalSeconds;
    const fmtMs = (xs: number[]): string => {
      const s = sortedOf(xs);
      return `p50 ${at(s, 50).toFixed(0)} ms, p95 ${at(s, 95).toFixed(0)} ms`;
    };
    const served = clusterCount * (nodeCount * podsPerNode + Math.ceil(nodeCount / 20));
    console.log(
      `simulated fleet: ${clusterCount} clusters × ${nodeCount} nodes × ${podsPerNode} pods per node (${served} non-terminated pods, ` +
        `${clusterCount * nodeCount} completed ones left out by the field selector); baseline: 1 cluster × 1 node × ${podsPerNode} pods. ` +
        `HTTPS with a bearer token; ${rounds} rounds timed after ${warmup} warm-up (${roundsS.toFixed(1)} s; fleet generated in ${generatedS.toFixed(1)} s)`,
    );
    console.log(
      `  served JSON: ${(sizes.nodeBytes / 1000).toFixed(1)} kB per node, ${(sizes.podBytes / 1000).toFixed(1)} kB per pod ` +
        `(gzip would make the first cluster's lists ${(sizes.nodesGzip / MB).toFixed(2)} + ${(sizes.podsGzip / MB).toFixed(2)} MB; ` +
        `the prober asks for no compression: Accept-Encoding ${[...new Set(Object.values(final).flatMap((s) => s.acceptEncoding))].join(', ')})`,
    );
    const rows: Record<string, string[]> = {};
    const add = (k: string, v: string): void => void (rows[k] ??= []).push(v);
    for (const run of runs) {
      const f = run.figures;
      const n = run.names.length;
      const req = mean(f.map((x) => x.requests));
      const byPath = (p: string): string => mean(f.map((x) => x.byPath[p] ?? 0)).toFixed(0);
      const bytes = mean(f.map((x) => x.bytes));
      const cpu = sortedOf(f.map((x) => x.cpuMs));
      add('API requests per round', `${req.toFixed(0)} (${(req / n).toFixed(1)} per cluster)`);
      add(
        '  readyz / nodes / pods',
        `${byPath('/readyz')} / ${byPath('/api/v1/nodes')} / ${byPath('/api/v1/pods')}`,
      );
      add(
        "  prober's own apiRequests",
        `${mean(f.map((x) => x.proberRequests)).toFixed(0)} (${f.every((x) => x.proberRequests === x.requests) ? 'agrees every round' : 'DISAGREES'})`,
      );
      add(
        '  TLS connections (resumed)',
        `${mean(f.map((x) => x.connections)).toFixed(0)} (${mean(f.map((x) => x.tlsResumed)).toFixed(0)})`,
      );
      add(
        'response bytes per round',
        `${(bytes / MB).toFixed(2)} MB (${(bytes / n / MB).toFixed(2)} per cluster: nodes ${(mean(f.map((x) => x.bytesByPath['/api/v1/nodes'] ?? 0)) / n / MB).toFixed(2)}, pods ${(mean(f.map((x) => x.bytesByPath['/api/v1/pods'] ?? 0)) / n / MB).toFixed(2)})`,
      );
      add('wall time per round', fmtMs(f.map((x) => x.wallMs)));
      add('prober CPU per round', `p50 ${at(cpu, 50).toFixed(0)} ms, p95 ${at(cpu, 95).toFixed(0)} ms`);
      add(`at one round per ${interval} s:`, '');
      // The monitor sleeps the interval after each round (src/workflows/cluster-monitor.ts): interval + a round's p50.
      add(
        '  the monitor then starts one every',
        `${(interval + at(sortedOf(f.map((x) => x.wallMs)), 50) / 1000).toFixed(1)} s`,
      );
      add('  requests/s per API server', (req / n / interval).toFixed(2));
      add('  requests/s, all clusters', (req / interval).toFixed(2));
      add('  MB/s per API server', (bytes / n / interval / MB).toFixed(3));
      add('  MB/s, all clusters', (bytes / interval / MB).toFixed(2));
      add('  prober CPU (share of one core)', `${((mean(cpu) / (interval * 1000)) * 100).toFixed(1)}%`);
    }
    const width = Math.max(...Object.keys(rows).map((k) => k.length)) + 2;
    const col = Math.max(...Object.values(rows).map((v) => v[0]!.length)) + 3;
    console.log(`  ${''.padEnd(width)}${runs[0]!.label.padEnd(col)}${runs[1]!.label}`);
    for (const [k, [fleet, base]] of Object.entries(rows))
      console.log(`  ${k.padEnd(width)}${fleet!.padEnd(col)}${base}`);
    const notCached = Object.values(final).reduce((a, s) => a + s.notFromCache, 0);
    const rejected = Object.values(final).reduce((a, s) => a + s.rejected, 0);
    console.log(
      `  LISTs without resourceVersion=0: ${notCached}; answers other than 200: ${rejected}; every view matched its simulation`,
    );
  } finally {
    child.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
