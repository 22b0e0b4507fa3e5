import { spawn, type ChildProcess } from 'node:child_process';
import { diff, scrapeRequests, sum, type Counts } from '../support/apiserver-requests.js';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import Table from 'cli-table3';
import { Client, Connection } from '@temporalio/client';
import { CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import { createKubeClients, openGet, type KubeClients } from '../../src/kube/clients.js';
import { watchUntil } from '../../src/kube/watch.js';
import { labelKeys } from '../../src/spec/kube-labels.js';
import { run } from '../../src/stack/images/exec.js';
import { imageRef } from '../../src/stack/images/local-images.js';
import { busyboxImage } from '../../src/stack/images/catalog.js';
import { detectNodeIp } from '../../src/stack/kube/layout.js';
import { defaultCacheRoot } from '../../src/stack/paths.js';
import { createS3ObjectStore, loadS3Config } from '../../src/storage/index.js';
import { ensureArgoPeer, type ArgoPeer } from './argo-build.js';

// Peer benchmark: Argo Workflows side by side with Assay on the same local cluster, in the same run (prints
// figures; asserts nothing). Argo's workflow-controller runs on the host against the cluster (namespaced to `argo`,
// its executor image imported into containerd, main-container logs archived to the stack's S3); Assay's worker runs
// in a child process. For each: the same trivial evaluation (busybox `echo ok`) N times in sequence, end-to-end
// p50/p95 and Kubernetes API requests per run counted by the API server itself (`apiserver_request_total` on
// `/metrics`, before and after each run; the median run net of the idle rate measured before each system's runs,
// since the cluster is shared); then one pod printing numbered lines over
// ~10 s while the orchestrator is SIGKILLed mid-run and restarted, and the lines kept in the stored log are counted.
// Argo runs twice: with its default workflow requeue time (DEFAULT_REQUEUE_TIME, 10 s) and tuned to 1 s (what
// Argo's own test setup uses).
// Needs the local stack: eval "$(npm run --silent stack -- env)". Builds Argo once, cached under
// ~/.cache/assay/peers/argo.

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const ARGO_NS = 'argo';
const WF = { group: 'argoproj.io', version: 'v1alpha1', plural: 'workflows' } as const;
const BUSYBOX = imageRef(busyboxImage);
const RESOURCES = { cpu: '500m', memory: '256Mi' };

const tag = ulid().toLowerCase().slice(-6);
const team = `peer-${tag}`;
const assayNamespace = `assay-${team}`;
const logsDir = join(process.env.ASSAY_CACHE_DIR ?? defaultCacheRoot(), 'peers', 'argo', 'logs');

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}

const median = (values: readonly number[]): number =>
  percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
const secs = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const say = (line: string): void => void process.stderr.write(`[peer] ${line}\n`);

/** Prints `lines` numbered lines over about `seconds` seconds (a pause every 1/100th of them). */
function printerScript(lines: number, seconds: number): string {
  const every = Math.max(1, Math.floor(lines / 100));
  const pause = (seconds / 100).toFixed(2);
  return (
    `i=1; while [ $i -le ${lines} ]; do echo "line $i"; ` +
    `if [ $((i % ${every})) -eq 0 ]; then sleep ${pause}; fi; i=$((i+1)); done`
  );
}

/** Distinct numbered lines and all lines in a stored log. */
function countLines(text: string, expected: number): { distinct: number; total: number; missing: number } {
  const seen = new Set<number>();
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^line (\d+)$/.exec(line.trim());
    if (!m) continue;
    total++;
    seen.add(Number(m[1]));
  }
  return { distinct: seen.size, total, missing: expected - seen.size };
}

// --- API server request counter ---------------------------------------------------------------------------------



/** The `n` verb/resource pairs with the most requests per run beyond the idle rate of the same pair. */
function topNet(c: Counts, idle: Counts, idleSeconds: number, seconds: number, runs: number, n = 6): string {
  return [...c.entries()]
    .map(([k, v]) => [k, (v - ((idle.get(k) ?? 0) / idleSeconds) * seconds) / runs] as const)
    .filter(([, v]) => v >= 0.5)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
}

// --- processes ---------------------------------------------------------------------------------------------------

/** A long-running child with its output in a log file; `kill` is SIGKILL, `stop` SIGTERM then SIGKILL. */
class Child {
  private proc: ChildProcess | undefined;
  private log: WriteStream | undefined;
  private exited: Promise<void> = Promise.resolve();

  /** Every child started, so that an interrupted bench does not leave them running. */
  static readonly all = new Set<Child>();

  constructor(
    readonly label: string,
    private readonly logFile: string,
  ) {
    Child.all.add(this);
  }

  /** Starts the process; resolves once `ready` matches a line of its output (or at once without `ready`). */
  async start(cmd: string, args: string[], env: Record<string, string>, ready?: RegExp): Promise<void> {
    this.log = createWriteStream(this.logFile, { flags: 'a' });
    this.log.write(`\n--- ${new Date().toISOString()} ${cmd} ${args.join(' ')}\n`);
    const proc = spawn(cmd, args, {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.exited = new Promise((resolve) => proc.once('exit', () => resolve()));
    const log = this.log;
    let buffered = '';
    const isReady = new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer): void => {
        log.write(chunk);
        if (!ready) return;
        buffered = (buffered + chunk.toString('utf8')).slice(-4096);
        if (ready.test(buffered)) resolve();
      };
      proc.stdout.on('data', onData);
      proc.stderr.on('data', onData);
      proc.once('exit', (code, signal) =>
        reject(
          new Error(`${this.label} exited (${code ?? signal}) before it was ready; see ${this.logFile}`),
        ),
      );
      if (!ready) resolve();
    });
    await isReady;
  }

  kill(): void {
    this.proc?.kill('SIGKILL');
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
    proc.kill('SIGTERM');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 15_000);
    await this.exited;
    clearTimeout(timer);
  }

  async waitExit(): Promise<void> {
    await this.exited;
  }
}

/**
 * Pods reach the host through the node IP, but the stack's S3 listens on loopback only: a byte-for-byte TCP relay
 * on the node IP lets Argo's executor upload there (SigV4 signs the Host header the executor sends, so it holds).
 */
async function startS3Relay(target: URL): Promise<{ server: Server; endpoint: string }> {
  const host = await detectNodeIp();
  const server = createServer((socket) => {
    const upstream = connect(Number(target.port || 80), target.hostname);
    socket.pipe(upstream).pipe(socket);
    socket.on('error', () => upstream.destroy());
    upstream.on('error', () => socket.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  return { server, endpoint: `${host}:${(server.address() as AddressInfo).port}` };
}

// --- Argo --------------------------------------------------------------------------------------------------------

interface ArgoWorkflow {
  metadata?: { name?: string; resourceVersion?: string };
  status?: {
    phase?: string;
    message?: string;
    nodes?: Record<
      string,
      { type?: string; outputs?: { artifacts?: { name?: string; s3?: { key?: string } }[] } }
    >;
  };
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const { stdout } = await run('kubectl', args, {
    ...(input !== undefined ? { input } : {}),
    timeoutMs: 120_000,
  });
  return stdout;
}

/** CRDs, the executor's Role and RoleBinding, the S3 credentials and the controller's ConfigMap in `argo`. */
async function applyArgoManifests(
  peer: ArgoPeer,
  s3: { endpoint: string; bucket: string; region: string; accessKey: string; secretKey: string },
): Promise<void> {
  const crdDir = join(peer.moduleDir, 'manifests/base/crds/minimal');
  const crds = (await readdir(crdDir)).filter((f) => f.startsWith('argoproj.io_')).sort();
  await kubectl([
    'apply',
    '--server-side',
    '--force-conflicts',
    ...crds.flatMap((f) => ['-f', join(crdDir, f)]),
  ]);
  await kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/workflows.argoproj.io',
    'crd/workflowtaskresults.argoproj.io',
  ]);
  const artifactRepository = [
    'archiveLogs: true',
    's3:',
    `  endpoint: "${s3.endpoint}"`,
    `  bucket: "${s3.bucket}"`,
    `  region: "${s3.region}"`,
    '  insecure: true',
    `  keyFormat: "argo-peer/${tag}/{{workflow.name}}/{{pod.name}}"`,
    '  accessKeySecret: { name: peer-s3, key: accessKey }',
    '  secretKeySecret: { name: peer-s3, key: secretKey }',
  ].join('\n');
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ARGO_NS } },
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'peer-s3', namespace: ARGO_NS },
      stringData: { accessKey: s3.accessKey, secretKey: s3.secretKey },
    },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'workflow-controller-configmap', namespace: ARGO_NS },
      data: { artifactRepository, metricsConfig: 'enabled: false\n' },
    },
  ];
  await kubectl(['apply', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }));
  const qs = join(peer.moduleDir, 'manifests/quick-start/base');
  await kubectl([
    'apply',
    '-n',
    ARGO_NS,
    '-f',
    join(qs, 'executor/emissary/executor-role.yaml'),
    '-f',
    join(qs, 'executor-default-rolebinding.yaml'),
  ]);
}

class ArgoRunner {
  private readonly custom: CustomObjectsApi;
  readonly controller: Child;
  private requeue: string | null = null;

  constructor(
    private readonly kube: KubeClients,
    private readonly peer: ArgoPeer,
  ) {
    this.custom = kube.config.makeApiClient(CustomObjectsApi);
    this.controller = new Child('workflow-controller', join(logsDir, `controller-${tag}.log`));
  }

  /** Starts the controller; `requeue` sets DEFAULT_REQUEUE_TIME (null: Argo's default, 10 s). */
  async startController(requeue: string | null = this.requeue): Promise<void> {
    this.requeue = requeue;
    await this.controller.start(
      this.peer.controller,
      [
        '-n',
        ARGO_NS,
        '--namespaced',
        '--managed-namespace',
        ARGO_NS,
        '--executor-image',
        this.peer.executorImage,
        '--executor-image-pull-policy',
        'Never',
      ],
      {
        LEADER_ELECTION_DISABLE: 'true',
        ...(requeue !== null ? { DEFAULT_REQUEUE_TIME: requeue } : {}),
      },
      /Starting Workflow Controller/,
    );
  }

  async create(script: string): Promise<string> {
    const name = `peer-${tag}-${ulid().toLowerCase().slice(-8)}`;
    await this.custom.createNamespacedCustomObject({
      ...WF,
      namespace: ARGO_NS,
      body: {
        apiVersion: `${WF.group}/${WF.version}`,
        kind: 'Workflow',
        metadata: { name, namespace: ARGO_NS, labels: { 'assay.dev/bench': `peer-${tag}` } },
        spec: {
          entrypoint: 'main',
          serviceAccountName: 'default',
          templates: [
            {
              name: 'main',
              container: {
                image: BUSYBOX,
                imagePullPolicy: 'Never',
                command: ['sh', '-c', script],
                resources: { requests: RESOURCES, limits: RESOURCES },
              },
            },
          ],
        },
      },
    });
    return name;
  }

  async waitDone(name: string): Promise<ArgoWorkflow> {
    const path = `/apis/${WF.group}/${WF.version}/namespaces/${ARGO_NS}/${WF.plural}`;
    const fieldSelector = `metadata.name=${name}`;
    return watchUntil<ArgoWorkflow, ArgoWorkflow>(
      this.kube.watch,
      {
        path,
        query: { fieldSelector },
        list: async () => {
          const l = (await this.custom.listNamespacedCustomObject({
            ...WF,
            namespace: ARGO_NS,
            fieldSelector,
          })) as { items: ArgoWorkflow[]; metadata?: { resourceVersion?: string } };
          return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
      },
      (wf) => (['Succeeded', 'Failed', 'Error'].includes(wf.status?.phase ?? '') ? wf : null),
      { signal: AbortSignal.timeout(300_000) },
    );
  }

  async once(): Promise<number> {
    const t0 = performance.now();
    const name = await this.create('echo ok');
    const wf = await this.waitDone(name);
    const ms = performance.now() - t0;
    if (wf.status?.phase !== 'Succeeded')
      throw new Error(`argo ${name}: ${wf.status?.phase} ${wf.status?.message}`);
    return ms;
  }

  async deleteAll(): Promise<void> {
    await kubectl([
      'delete',
      'workflows',
      '-n',
      ARGO_NS,
      '-l',
      `assay.dev/bench=peer-${tag}`,
      '--wait=false',
    ]);
  }
}

/** Waits until the pod selected by `labelSelector` in `namespace` runs its `main` container. */
async function mainRunning(kube: KubeClients, namespace: string, labelSelector: string): Promise<string> {
  return watchUntil<V1Pod, string>(
    kube.watch,
    {
      path: `/api/v1/namespaces/${namespace}/pods`,
      query: { labelSelector },
      list: async () => {
        const l = await kube.core.listNamespacedPod({ namespace, labelSelector });
        return { items: l.items, resourceVersion: l.metadata?.resourceVersion ?? '' };
      },
    },
    (p) =>
      p.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running !== undefined)
        ? (p.metadata?.name ?? null)
        : null,
    { signal: AbortSignal.timeout(180_000) },
  );
}

async function readPodLog(kube: KubeClients, namespace: string, pod: string): Promise<string | null> {
  try {
    const res = await openGet(kube.config, `/api/v1/namespaces/${namespace}/pods/${pod}/log`, {
      container: 'main',
    });
    let text = '';
    for await (const chunk of res) text += (chunk as Buffer).toString('utf8');
    return res.statusCode === 200 ? text : null;
  } catch {
    return null;
  }
}

// --- main --------------------------------------------------------------------------------------------------------

interface Row {
  label: string;
  ms: number[];
  /** Requests over all runs, by verb and resource. */
  requests: Counts;
  /** Seconds spent in the runs (the scrapes between them excluded). */
  seconds: number;
  /** Each run's requests minus the idle rate × its duration. */
  net: number[];
  idle: Counts;
  idleSeconds: number;
}

async function main(): Promise<void> {
  const opts = new Command('peers/argo')
    .option('--n <n>', 'trivial evaluations per system', '10')
    .option('--lines <n>', 'numbered lines the log pod prints', '2000')
    .option('--log-seconds <s>', 'over how long it prints them', '10')
    .option('--kill-after <s>', 'SIGKILL the orchestrator this long after the main container starts', '3')
    .option('--down <s>', 'how long the orchestrator stays down before it is restarted', '5')
    .option(
      '--idle <s>',
      "idle window before each system's runs, measuring the background API request rate",
      '10',
    )
    .parse()
    .opts<{ n: string; lines: string; logSeconds: string; killAfter: string; down: string; idle: string }>();
  const n = Number(opts.n);
  const lines = Number(opts.lines);
  const logScript = printerScript(lines, Number(opts.logSeconds));
  const killAfterMs = Number(opts.killAfter) * 1000;
  const downMs = Number(opts.down) * 1000;
  const idleMs = Number(opts.idle) * 1000;

  const loadStart = loadavg();
  await mkdir(logsDir, { recursive: true });
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  const s3 = loadS3Config();
  if (!s3.endpoint)
    throw new Error('ASSAY_S3_ENDPOINT is not set: eval "$(npm run --silent stack -- env)" first');
  const store = createS3ObjectStore(s3);

  say('building or reusing Argo (cached under ~/.cache/assay/peers/argo)');
  const peer = await ensureArgoPeer();
  const relay = await startS3Relay(new URL(s3.endpoint));
  await applyArgoManifests(peer, {
    endpoint: relay.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    accessKey: s3.credentials?.accessKeyId ?? '',
    secretKey: s3.credentials?.secretAccessKey ?? '',
  });

  const argo = new ArgoRunner(kube, peer);
  const taskQueue = `assay-peer-${tag}`;
  const worker = new Child('assay worker', join(logsDir, `assay-worker-${tag}.log`));
  const startWorker = (): Promise<void> =>
    worker.start(
      process.execPath,
      ['--import', 'tsx', 'src/workers/main.ts'],
      {
        ASSAY_TASK_QUEUE: taskQueue,
        ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS: '2',
        ASSAY_LOG_LEVEL: 'info',
        // A bench queue needs no retention schedule of its own.
        ASSAY_RETENTION_SETUP: 'false',
      },
      new RegExp(`serving ${taskQueue}`),
    );
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const connection = await Connection.connect({ address });
  const client = new AssayClient(
    new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' }),
    { taskQueue },
  );
  const assayManifest = (script: string): Record<string, unknown> => ({
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    metadata: {},
    spec: {
      team,
      user: 'bench',
      image: BUSYBOX,
      command: ['sh', '-c', script],
      resources: { ...RESOURCES, ephemeralStorage: '64Mi' },
      timeoutSeconds: 300,
      retries: { maxAttempts: 3, backoffSeconds: 1 },
    },
  });
  const assayStart = async (script: string): Promise<string> => {
    const id = `p-${ulid().toLowerCase()}`;
    await client.start(assayManifest(script), { idempotencyKey: id });
    return id;
  };
  const assayOnce = async (): Promise<number> => {
    const t0 = performance.now();
    const id = await assayStart('echo ok');
    const record = await client.result(id);
    const ms = performance.now() - t0;
    if (record.outcome !== 'Succeeded') throw new Error(`assay ${id}: ${record.outcome} ${record.reason}`);
    return ms;
  };

  const rows: Row[] = [];
  // The cluster is shared (other workers, tests): the background rate is measured right before each system's runs,
  // and each run is counted on its own, so the median per run resists a burst of someone else's requests.
  const measure = async (label: string, once: () => Promise<number>): Promise<void> => {
    await once(); // warm-up: namespace, service account, image cache, JIT
    const idleBefore = await scrapeRequests(kube);
    const idleT0 = performance.now();
    await delay(idleMs);
    const idle = diff(await scrapeRequests(kube), idleBefore);
    const idleSeconds = (performance.now() - idleT0) / 1000;
    const row: Row = { label, ms: [], requests: new Map(), seconds: 0, net: [], idle, idleSeconds };
    for (let i = 0; i < n; i++) {
      const before = await scrapeRequests(kube);
      const ms = await once();
      const d = diff(await scrapeRequests(kube), before);
      for (const [k, v] of d) row.requests.set(k, (row.requests.get(k) ?? 0) + v);
      row.ms.push(ms);
      row.seconds += ms / 1000;
      row.net.push(sum(d) - (sum(idle) / idleSeconds) * (ms / 1000));
    }
    rows.push(row);
    say(`${label}: p50 ${secs(median(row.ms))}`);
  };

  const kills: string[] = [];
  try {
    say(`starting the Assay worker (queue ${taskQueue}) and Argo's controller (${peer.version})`);
    await startWorker();
    await argo.startController(null);

    await measure(`Argo ${peer.version} (requeue 10 s, default)`, () => argo.once());

    // SIGKILL Argo's controller while the log pod prints.
    {
      const name = await argo.create(logScript);
      const pod = await mainRunning(kube, ARGO_NS, `workflows.argoproj.io/workflow=${name}`);
      await delay(killAfterMs);
      argo.controller.kill();
      await argo.controller.waitExit();
      await delay(downMs);
      await argo.startController();
      const wf = await argo.waitDone(name);
      const key = Object.values(wf.status?.nodes ?? {})
        .flatMap((node) => node.outputs?.artifacts ?? [])
        .find((a) => a.name === 'main-logs')?.s3?.key;
      const archived = key ? (await store.getBytes(key)).toString('utf8') : null;
      const podLog = await readPodLog(kube, ARGO_NS, pod);
      const a = archived !== null ? countLines(archived, lines) : null;
      const p = podLog !== null ? countLines(podLog, lines) : null;
      kills.push(
        `Argo:  workflow ${wf.status?.phase}; archived main.log ${
          a
            ? `${a.distinct}/${lines} distinct (${a.total} lines, ${a.missing} missing)`
            : 'absent (no main-logs artifact)'
        }; pod log ${p ? `${p.distinct}/${lines} distinct` : 'gone'}`,
      );
    }

    await argo.controller.stop();
    await argo.startController('1s');
    await measure(`Argo ${peer.version} (requeue 1 s, tuned)`, () => argo.once());

    await measure('Assay', assayOnce);

    // SIGKILL Assay's worker while the log pod prints.
    {
      const id = await assayStart(logScript);
      await mainRunning(kube, assayNamespace, `${labelKeys.evaluationId}=${id}`);
      await delay(killAfterMs);
      worker.kill();
      await worker.waitExit();
      await delay(downMs);
      await startWorker();
      const record = await client.result(id);
      const last = record.attempts.at(-1);
      const key = last?.logs?.stdout ?? last?.logs?.combined ?? null;
      const c = key ? countLines((await store.getBytes(key)).toString('utf8'), lines) : null;
      kills.push(
        `Assay: evaluation ${record.outcome}${record.reason ? ` (${record.reason})` : ''}, ${record.attempts.length} attempt(s); stored ${
          key?.split('/').pop() ?? 'log'
        } ${c ? `${c.distinct}/${lines} distinct (${c.total} lines, ${c.missing} missing)` : 'absent'}`,
      );
    }

    const table = new Table({
      head: [
        'sequential, trivial (busybox echo)',
        'n',
        'p50',
        'p95',
        'API req/run (mean)',
        'net of idle (median)',
        'idle req/s',
      ],
      style: { head: [], border: [] },
    });
    for (const r of rows) {
      const s = [...r.ms].sort((a, b) => a - b);
      const total = sum(r.requests);
      table.push([
        r.label,
        String(r.ms.length),
        secs(percentile(s, 50)),
        secs(percentile(s, 95)),
        (total / r.ms.length).toFixed(1),
        median(r.net).toFixed(1),
        (sum(r.idle) / r.idleSeconds).toFixed(2),
      ]);
    }
    const out = [
      '',
      `Argo Workflows ${peer.version} vs Assay on the local cluster (same run; load average ` +
        `${loadStart.map((l) => l.toFixed(2)).join(' ')} at start, ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} at end)`,
      table.toString(),
      'API requests counted by the API server (apiserver_request_total on /metrics) before and after each run; ' +
        `idle rate measured for ${opts.idle} s before each system's runs, with both orchestrators idle`,
      'per run, net of idle, by verb and resource (mean):',
      ...rows.map(
        (r) => `  ${r.label}: ${topNet(r.requests, r.idle, r.idleSeconds, r.seconds, r.ms.length)}`,
      ),
      '',
      `Log lines kept when the orchestrator is SIGKILLed ${opts.killAfter} s into a pod printing ${lines} lines over ` +
        `${opts.logSeconds} s, restarted ${opts.down} s later:`,
      ...kills.map((k) => `  ${k}`),
      '',
    ];
    process.stdout.write(out.join('\n'));
  } finally {
    await argo.controller.stop().catch(() => undefined);
    await worker.stop().catch(() => undefined);
    await argo.deleteAll().catch((err: unknown) => say(`cleanup: ${String(err)}`));
    for await (const o of store.list(`argo-peer/${tag}/`)) await store.delete(o.key).catch(() => undefined);
    relay.server.close();
    await connection.close();
    await kube.core.deleteNamespace({ name: assayNamespace }).catch(() => undefined);
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const child of Child.all) child.kill();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`peers/argo: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
