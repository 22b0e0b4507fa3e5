/**
 * The Helm chart on the real cluster (docs/deploy.md, "Helm"): `helm install` of deploy/helm/assay into the local
 * cluster with the worker image `npm run images` builds, the worker running in a pod with in-cluster credentials
 * against the stack's Temporal and S3 (reached through a relay on the cluster bridge: the stack listens on loopback);
 * an evaluation on the release's own task queue, so only the in-cluster worker can serve it; `helm upgrade` with a
 * changed value while an evaluation runs rolls the worker and the evaluation succeeds with every log line; `helm
 * uninstall` leaves no object of the release (the CRD is the stack's here, and kept by the chart anyway). Prints
 * `measure: helm install → worker serving …`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { AssayClient } from '../../src/client/assay-client.js';
import { workerImage } from '../../src/deploy/images.js';
import { run } from '../../src/stack/images/exec.js';
import { ensureImagesImported, imageRef } from '../../src/stack/images/local-images.js';
import { CLUSTER, kubeLayout } from '../../src/stack/kube/layout.js';
import { createStackContext } from '../../src/stack/stack.js';
import { loadS3Config, createS3ObjectStore, type S3ObjectStore } from '../../src/storage/index.js';
import { manifestBuilder, newId } from '../support/evaluation-harness.js';
import { chartDir, helm, helmBinary } from '../support/helm.js';
import { expectAllLines } from '../support/log-capture.js';
import { bridgeAddress, startTcpRelay, type TcpRelay } from '../support/tcp-relay.js';
import { stackTestEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';
import { BUSYBOX, COLLECTOR, PYTHON } from './kube/cluster.js';

const env = stackTestEnv();
const suffix = newId('h').slice(2);
const release = `assay-${suffix}`;
const releaseNamespace = `assay-helm-${suffix}`;
const team = `helm${suffix}`.slice(0, 30);
const teamNamespace = `assay-${team}`;
const taskQueue = `helm-${suffix}`;
const clusterName = 'in-cluster';
const workerDeployment = `${release}-worker`;

async function kubectl(...args: string[]): Promise<string> {
  return (await run('kubectl', args, { timeoutMs: 120_000 })).stdout;
}

interface PodList {
  items: {
    metadata: { name: string; deletionTimestamp?: string; labels?: Record<string, string> };
    status: { phase: string; containerStatuses?: { ready: boolean; restartCount: number }[] };
  }[];
}

async function workerPods(): Promise<PodList['items']> {
  const out = await kubectl(
    'get',
    'pods',
    '-n',
    releaseNamespace,
    '-l',
    `app.kubernetes.io/instance=${release},app.kubernetes.io/component=worker`,
    '-o',
    'json',
  );
  return (JSON.parse(out) as PodList).items;
}

/** The identities polling a task queue (the in-cluster worker's include its pod's host name). */
async function pollers(
  client: Client,
  name: string,
  type: temporal.api.enums.v1.TaskQueueType,
): Promise<string[]> {
  const response = await client.workflowService.describeTaskQueue({
    namespace: env.TEMPORAL_NAMESPACE,
    taskQueue: { name, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: type,
  });
  return (response.pollers ?? []).map((p) => p.identity ?? '');
}

/** The worker pods (by name) that poll both the workflow queue and the cluster's activity queue. */
async function servingPods(client: Client): Promise<string[]> {
  const [workflows, activities] = await Promise.all([
    pollers(client, taskQueue, temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    pollers(
      client,
      `${taskQueue}-cluster-${clusterName}`,
      temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    ),
  ]);
  const pods = (await workerPods()).map((p) => p.metadata.name);
  return pods.filter(
    (pod) => workflows.some((id) => id.includes(pod)) && activities.some((id) => id.includes(pod)),
  );
}

/** Makes sure the CNI bridge exists (it appears with the first pod after boot) so the relays can listen on it. */
async function ensureBridge(): Promise<string> {
  try {
    return bridgeAddress();
  } catch {
    await kubectl(
      'run',
      'bridge-probe',
      '-n',
      releaseNamespace,
      `--image=${BUSYBOX}`,
      '--image-pull-policy=Never',
      '--restart=Never',
      '--overrides={"spec":{"securityContext":{"runAsNonRoot":true,"runAsUser":65532,"seccompProfile":{"type":"RuntimeDefault"}},"containers":[{"name":"bridge-probe","image":"' +
        BUSYBOX +
        '","imagePullPolicy":"Never","command":["true"],"securityContext":{"allowPrivilegeEscalation":false,"capabilities":{"drop":["ALL"]}}}]}}',
    );
    const address = await waitFor(
      () => {
        try {
          return bridgeAddress();
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 60_000, what: `the ${CLUSTER.bridge} bridge` },
    );
    await kubectl('delete', 'pod', '-n', releaseNamespace, 'bridge-probe', '--wait=false');
    return address;
  }
}

let connection: Connection;
let temporalClient: Client;
let client: AssayClient;
let store: S3ObjectStore;
const relays: TcpRelay[] = [];
let installed = false;

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '64Mi' },
    timeoutSeconds: 300,
  },
});

beforeAll(async () => {
  const ctx = createStackContext();
  // First run on a fresh machine: Helm's Go build and the worker image (minutes); cached afterwards.
  await helmBinary();
  await ensureImagesImported(
    ctx,
    { ctr: 'ctr', address: kubeLayout(ctx.paths).containerdSocket, namespace: CLUSTER.containerdNamespace },
    [workerImage],
  );
  connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  temporalClient = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  client = new AssayClient(temporalClient, { taskQueue });
  const s3 = loadS3Config();
  store = createS3ObjectStore(s3);

  await kubectl('create', 'namespace', releaseNamespace);
  const host = await ensureBridge();
  relays.push(await startTcpRelay(host, env.TEMPORAL_ADDRESS));
  relays.push(await startTcpRelay(host, new URL(s3.endpoint ?? '').host));
  // In-cluster credentials: the S3 keys in a Secret the chart is pointed at (existingSecret).
  await kubectl(
    'create',
    'secret',
    'generic',
    's3-credentials',
    '-n',
    releaseNamespace,
    `--from-literal=accessKeyId=${s3.credentials?.accessKeyId ?? ''}`,
    `--from-literal=secretAccessKey=${s3.credentials?.secretAccessKey ?? ''}`,
  );
}, 25 * 60_000);

afterAll(async () => {
  if (installed) await helm(['uninstall', release, '-n', releaseNamespace, '--wait'], { allowFailure: true });
  await kubectl(
    'delete',
    'namespace',
    releaseNamespace,
    teamNamespace,
    '--ignore-not-found',
    '--wait=false',
  ).catch(() => undefined);
  for (const relay of relays) await relay.close();
  store?.close();
  await connection?.close();
}, 180_000);

/** The values of the test's release: its own queue and team, the stack's images, nothing shared with other tests. */
function installArgs(): string[] {
  const [temporalRelay, s3Relay] = relays;
  return [
    '--namespace',
    releaseNamespace,
    '--set',
    `image.repository=${imageRef(workerImage).split(':')[0]}`,
    '--set',
    `image.tag=${workerImage.tags[0]}`,
    '--set',
    'image.pullPolicy=Never',
    '--set',
    `temporal.address=${temporalRelay?.address ?? ''}`,
    '--set',
    `temporal.namespace=${env.TEMPORAL_NAMESPACE}`,
    '--set',
    `s3.endpoint=http://${s3Relay?.address ?? ''}`,
    '--set',
    `s3.bucket=${store.bucket}`,
    '--set',
    's3.forcePathStyle=true',
    '--set',
    's3.existingSecret=s3-credentials',
    '--set',
    `taskQueue=${taskQueue}`,
    '--set',
    `teams[0].name=${team}`,
    '--set',
    `worker.clusterName=${clusterName}`,
    '--set',
    'worker.replicas=1',
    '--set',
    // Short, so that the rolled worker hands its activities back within the test.
    'worker.shutdownGraceSeconds=5',
    '--set',
    `worker.collector.image=${COLLECTOR}`,
    '--set',
    'worker.collector.imagePullPolicy=Never',
    '--set',
    'worker.retentionSetup=false',
    '--set',
    'worker.janitor.enabled=false',
    '--set',
    'worker.resources.requests.cpu=100m',
    '--set',
    'worker.resources.requests.memory=256Mi',
    '--set',
    'controller.replicas=1',
    // Only resources of this test: the stack's other EvaluationJobs belong to other suites.
    '--set',
    `controller.selector=assay.dev/helm-test=${suffix}`,
    '--set',
    'controller.resources.requests.cpu=10m',
    '--set',
    'admission.replicas=1',
    '--set',
    'admission.resources.requests.cpu=10m',
    // The stack owns the CRD, the PriorityClasses and the webhook configurations of this cluster.
    '--set',
    'admission.registerWebhooks=false',
    '--set',
    'crd.install=false',
    '--set',
    'priorityClasses.create=false',
  ];
}

describe('the chart on the local cluster', () => {
  it('installs, and the in-cluster worker serves its queues', async () => {
    const started = Date.now();
    await helm(['install', release, chartDir, ...installArgs()], { timeoutMs: 120_000 });
    installed = true;
    const installedAt = Date.now();
    const serving = await waitFor(
      async () => {
        const pods = await servingPods(temporalClient);
        return pods.length > 0 ? pods : undefined;
      },
      { timeoutMs: 150_000, what: 'the in-cluster worker polling its queues', intervalMs: 500 },
    );
    const servingAt = Date.now();
    process.stderr.write(
      `measure: helm install → worker serving ${((servingAt - started) / 1000).toFixed(1)} s ` +
        `(helm install itself ${((installedAt - started) / 1000).toFixed(1)} s; pod ${serving.join(', ')})\n`,
    );
    await kubectl(
      'rollout',
      'status',
      '-n',
      releaseNamespace,
      `deploy/${release}-controller`,
      '--timeout=120s',
    );
    await kubectl(
      'rollout',
      'status',
      '-n',
      releaseNamespace,
      `deploy/${release}-admission`,
      '--timeout=120s',
    );
    // The controller took its Lease with the chart's Role (create, and get/update of its own name only).
    const holder = await waitFor(
      async () =>
        (
          await kubectl(
            'get',
            'lease',
            '-n',
            releaseNamespace,
            `${release}-controller`,
            '-o',
            'jsonpath={.spec.holderIdentity}',
          )
        ).trim() || undefined,
      { timeoutMs: 60_000, what: "the controller's Lease held" },
    );
    expect(holder).toContain(`${release}-controller-`);
  }, 300_000);

  it('runs an evaluation served only by the in-cluster worker', async () => {
    const id = newId('helm');
    const started = await client.start(
      manifest({
        command: ['sh', '-c', `echo '{"served":"in-cluster"}' > "$ASSAY_RESULT_PATH"`],
        result: { maxBytes: '4Ki' },
      }),
      { idempotencyKey: id },
    );
    const record = await client.result(started.evaluationId);
    expect(record).toMatchObject({
      outcome: 'Succeeded',
      cluster: clusterName,
      namespace: teamNamespace,
      result: { served: 'in-cluster' },
    });
  }, 180_000);

  it('helm upgrade with a changed value rolls the worker without losing a running evaluation', async () => {
    const lines = 250;
    const before = (await workerPods()).map((p) => p.metadata.name);
    const id = newId('helm-up');
    const started = await client.start(
      manifest({
        image: PYTHON,
        // numberedLines' format, one line per 0.1 s: ≈ 25 s, the roll happens in the middle.
        command: [
          'python3',
          '-c',
          [
            'import os, time',
            'pad = b"x" * 84',
            `for i in range(${lines}):`,
            '    fd = 1 if i % 2 == 0 else 2',
            '    os.write(fd, b"%s %07d %s\\n" % (b"out" if fd == 1 else b"err", i, pad))',
            '    time.sleep(0.1)',
          ].join('\n'),
        ],
        timeoutSeconds: 300,
      }),
      { idempotencyKey: id },
    );
    await waitFor(
      async () => ((await client.status(started.evaluationId)).phase === 'Running' ? true : undefined),
      { timeoutMs: 90_000, what: 'the evaluation running' },
    );
    await helm(
      [
        'upgrade',
        release,
        chartDir,
        ...installArgs(),
        '--set',
        'worker.logLevel=debug',
        '--wait',
        '--timeout',
        '3m',
      ],
      { timeoutMs: 200_000 },
    );
    await kubectl(
      'rollout',
      'status',
      '-n',
      releaseNamespace,
      `deploy/${workerDeployment}`,
      '--timeout=120s',
    );
    const record = await client.result(started.evaluationId);
    const after = (await workerPods())
      .filter((p) => !p.metadata.deletionTimestamp)
      .map((p) => p.metadata.name);
    expect(after.some((p) => !before.includes(p))).toBe(true);
    expect(after.some((p) => before.includes(p))).toBe(false);
    expect(record.outcome).toBe('Succeeded');
    await expectAllLines(store, record, lines);
  }, 300_000);

  it('helm uninstall leaves no object of the release behind', async () => {
    await helm(['uninstall', release, '-n', releaseNamespace, '--wait', '--timeout', '2m'], {
      timeoutMs: 150_000,
    });
    installed = false;
    const selector = `app.kubernetes.io/instance=${release}`;
    const namespaced = await kubectl(
      'get',
      'deployments,replicasets,services,configmaps,secrets,serviceaccounts,roles,rolebindings,poddisruptionbudgets',
      '-A',
      '-l',
      selector,
      '-o',
      'name',
    );
    expect(namespaced.trim()).toBe('');
    const cluster = await kubectl(
      'get',
      'clusterroles,clusterrolebindings,validatingwebhookconfigurations,mutatingwebhookconfigurations',
      '-l',
      selector,
      '-o',
      'name',
    );
    expect(cluster.trim()).toBe('');
    // The team namespace the chart made is going (Terminating) or gone; the CRD stays.
    const ns = await run('kubectl', ['get', 'namespace', teamNamespace, '-o', 'jsonpath={.status.phase}'], {
      allowFailure: true,
    });
    expect(ns.code !== 0 || ns.stdout === 'Terminating').toBe(true);
    await kubectl('get', 'crd', 'evaluationjobs.assay.dev');
    await waitFor(async () => ((await workerPods()).length === 0 ? true : undefined), {
      timeoutMs: 60_000,
      what: 'the worker pods gone',
    });
  }, 180_000);
});
