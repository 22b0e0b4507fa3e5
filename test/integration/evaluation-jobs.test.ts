/**
 * The EvaluationJob resource on the real stack (docs/kubernetes.md): the CRD and admission webhooks, the controller
 * with leader election, and the janitor. The stack's API server calls `assay admission`, started here in-process on
 * the stack's admission port, and the webhooks fail closed for EvaluationJobs: every case that creates one needs that
 * server, and only one file may own the port (Jest runs files in parallel), so they are all here. The admission cases
 * end with the server stopped, so they run last.
 *
 * Admission: the examples apply unchanged with `kubectl apply -f` and are stored with their defaults; team and user
 * are defaulted; an invalid resource is refused with field paths; a namespace without a team is refused; v1alpha1 is
 * stored as v1 and read back unchanged; a spec edit is refused; with the server down, other resources are unaffected
 * and EvaluationJobs are refused (failurePolicy Fail).
 *
 * Controller (in-process, on its own label selector, Lease and task queue, with in-process workers): an applied
 * resource reaches Succeeded with exit code 0 and its record key; deleting a running one cancels it and its Job
 * goes; beside it, `kubectl apply -f examples/demo/evaluation.yaml` (the file as it is) is stored with its team's
 * defaults (the admission config here gives team demo some) and reaches Succeeded; a workflow terminated from
 * outside is reported; with Temporal unreachable the resource gets a StartFailed condition and is retried with
 * back-off; two replicas as child processes, the leader SIGKILLed mid-run, the standby takes over within the lease
 * duration and finishes the status, one Job for the one attempt. Janitor: an orphaned Job, a pod stuck on the
 * capture finalizer, an attempt NetworkPolicy and a multipart upload (in the stack's S3) of a nonexistent evaluation
 * are reported by a dry run and removed by a real one; the upload of a live evaluation stays.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiException,
  CustomObjectsApi,
  NetworkingV1Api,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { register } from 'prom-client';
import { ulid } from 'ulid';
import { pino } from 'pino';
import { parse, stringify } from 'yaml';
import { startAdmission, type RunningAdmission } from '../../src/admission/main.js';
import { ADMISSION_DEFAULT_PORT } from '../../src/admission/defaults.js';
import { evaluationJobOrThrow } from '../../src/spec/evaluation-job.js';
import { specFromV1alpha1, specToV1alpha1 } from '../../src/spec/evaluation-job-v1alpha1.js';
import { isPortFree } from '../../src/stack/index.js';
import {
  loadControllerConfig,
  startController,
  type ControllerConfig,
  type RunningController,
} from '../../src/controller/main.js';
import { ensureJanitorSchedule, janitorScheduleId } from '../../src/janitor/schedule.js';
import { sweepCluster } from '../../src/janitor/sweep.js';
import type { JanitorResult } from '../../src/workflows/janitor.js';
import { collect } from '../../src/storage/object-store.js';
import type { EvaluationJobStatus } from '../../src/spec/evaluation-job-status.js';
import { startEvaluationHarness, type EvaluationHarness } from '../support/evaluation-harness.js';
import { runCommand, projectRoot } from '../support/cli.js';
import { waitFor } from '../support/wait-for.js';
import {
  BUSYBOX,
  connect,
  createNamespace as createKubeNamespace,
  deleteNamespace,
  restrictedSecurityContext,
  uniqueName,
} from './kube/cluster.js';

type Json = { [key: string]: unknown };

const c = connect();
const custom = c.kc.makeApiClient(CustomObjectsApi);
const group = 'assay.dev';
const plural = 'evaluationjobs';
const team = 'ml-research';
/** examples/full.yaml names its namespace; it is shared, so only created (and deleted) when missing. */
const fullNamespace = 'assay-ml-research';

let admission: RunningAdmission | undefined;
let mapped: string;
let unmapped: string;
/** Mapped to the team of examples/demo/evaluation.yaml, which the admission config gives team defaults. */
let demoNamespace: string;
let configDir: string | undefined;
let createdFullNamespace = false;

/** The team defaults `assay admission` runs with here: only the demo's team has any. */
const teamDefaults = {
  teams: {
    demo: { priority: 'high', timeoutSeconds: 600, labels: { 'cost-center': 'shared', tier: 'showcase' } },
  },
};

function example(path: string): Json {
  return parse(readFileSync(`${projectRoot}/examples/${path}`, 'utf8')) as Json;
}

function kubectl(...args: string[]) {
  return runCommand('kubectl', args);
}

async function createNamespace(name: string, labels: Record<string, string>): Promise<void> {
  await c.core.createNamespace({
    body: { metadata: { name, labels: { 'assay.dev/test': 'integration', ...labels } } },
  });
}

/**
 * The namespace examples/full.yaml names, labelled with its team: created when missing (and then deleted afterwards),
 * waited out while an earlier run's copy terminates, labelled when it exists without the label.
 */
async function ensureFullNamespace(): Promise<void> {
  await waitFor(
    async () => {
      try {
        await createNamespace(fullNamespace, { 'assay.dev/team': team });
        createdFullNamespace = true;
        return true;
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 409)) throw err;
      }
      const ns = await c.core.readNamespace({ name: fullNamespace });
      if (ns.status?.phase === 'Terminating') return false;
      if (ns.metadata?.labels?.['assay.dev/team'] !== team) {
        await c.core.patchNamespace(
          { name: fullNamespace, body: { metadata: { labels: { 'assay.dev/team': team } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      }
      return true;
    },
    { what: `namespace ${fullNamespace} to be usable`, timeoutMs: 45_000, intervalMs: 500 },
  );
}

function job(name: string, spec: Json, apiVersion = 'assay.dev/v1'): Json {
  return { apiVersion, kind: 'EvaluationJob', metadata: { name }, spec };
}

async function create(namespace: string, body: Json, version = 'v1'): Promise<Json> {
  return (await custom.createNamespacedCustomObject({ group, version, namespace, plural, body })) as Json;
}

async function read(namespace: string, name: string, version = 'v1'): Promise<Json> {
  return (await custom.getNamespacedCustomObject({ group, version, namespace, plural, name })) as Json;
}

/** The API server's Status for a refused request. */
async function refused(request: Promise<unknown>): Promise<{
  code: number;
  message: string;
  details?: { causes?: { field?: string; message: string }[] };
}> {
  try {
    await request;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message: string };
    return { code: err.code, ...body };
  }
  throw new Error('the request was accepted');
}

beforeAll(async () => {
  if (!(await isPortFree(ADMISSION_DEFAULT_PORT))) {
    throw new Error(
      `port ${ADMISSION_DEFAULT_PORT} is taken: stop the \`assay admission\` that runs there, this suite starts its own`,
    );
  }
  configDir = await mkdtemp(join(tmpdir(), 'assay-admission-'));
  const configFile = join(configDir, 'admission.yaml');
  await writeFile(configFile, stringify({ teamDefaults }));
  admission = await startAdmission({
    flags: { config: configFile },
    env: process.env,
    logger: pino({ level: 'warn' }),
  });
  mapped = uniqueName('adm');
  unmapped = uniqueName('adm-bare');
  demoNamespace = uniqueName('adm-demo');
  await Promise.all([
    createNamespace(mapped, { 'assay.dev/team': team }),
    createNamespace(unmapped, {}),
    createNamespace(demoNamespace, { 'assay.dev/team': 'demo' }),
  ]);
  await ensureFullNamespace();
  // The API server may still have a connection from a previous run's server to forget: wait until a call passes.
  await waitFor(
    async () => {
      const probe = job(uniqueName('probe'), { image: 'busybox:1' });
      await custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: mapped,
        plural,
        body: probe,
        dryRun: 'All',
      });
      return true;
    },
    { what: 'the API server to reach assay admission', timeoutMs: 30_000, intervalMs: 500 },
  );
}, 60_000);

afterAll(async () => {
  await admission?.stop();
  await custom
    .deleteNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: fullNamespace,
      plural,
      name: 'mmlu-llama-8b',
    })
    .catch(() => undefined);
  await Promise.all([
    deleteNamespace(c, mapped),
    deleteNamespace(c, unmapped),
    deleteNamespace(c, demoNamespace),
    createdFullNamespace ? deleteNamespace(c, fullNamespace) : undefined,
    configDir !== undefined ? rm(configDir, { recursive: true, force: true }) : undefined,
  ]);
});

describe('EvaluationJob controller', () => {
  const run = ulid().toLowerCase().slice(-8);
  const taskQueue = `ctl-${run}`;
  const selectorKey = 'assay.dev/controller-test';
  const jobNamespace = fullNamespace; // the team's namespace, where the Jobs run
  let harness: EvaluationHarness | undefined;
  let controller: RunningController | undefined;
  /** Takes only the demo resource, so the measured resource's controller counts only its own requests. */
  let demoController: RunningController | undefined;
  const children: ChildProcess[] = [];

  /** A resource for the controller of `selector`: a busybox command with small resources. */
  function resource(name: string, selector: string, command: string): Json {
    return {
      apiVersion: 'assay.dev/v1',
      kind: 'EvaluationJob',
      metadata: { name, labels: { [selectorKey]: selector } },
      spec: {
        image: BUSYBOX,
        command: ['sh', '-c', command],
        resources: { cpu: '50m', memory: '32Mi' },
        timeoutSeconds: 300,
      },
    };
  }

  function config(selector: string, overrides: Record<string, string> = {}): ControllerConfig {
    return loadControllerConfig(
      {
        taskQueue,
        selector: `${selectorKey}=${selector}`,
        leaseName: `ctl-${selector}`,
        leaseNamespace: mapped,
        identity: `in-process-${selector}`,
        pollInterval: '1',
      },
      { ...process.env, ...overrides },
    );
  }

  async function statusOf(name: string): Promise<EvaluationJobStatus | undefined> {
    return (await read(mapped, name)).status as EvaluationJobStatus | undefined;
  }

  async function waitForStatus(
    name: string,
    what: string,
    check: (s: EvaluationJobStatus) => boolean,
    timeoutMs = 60_000,
  ): Promise<EvaluationJobStatus> {
    return await waitFor(
      async () => {
        const s = await statusOf(name);
        return s !== undefined && check(s) ? s : undefined;
      },
      { what: `${name}: ${what}`, timeoutMs, intervalMs: 250 },
    );
  }

  async function gone(name: string): Promise<boolean> {
    try {
      await read(mapped, name);
      return false;
    } catch (err) {
      if (err instanceof ApiException && err.code === 404) return true;
      throw err;
    }
  }

  async function jobsOf(evaluationId: string): Promise<string[]> {
    const list = await c.batch.listNamespacedJob({
      namespace: jobNamespace,
      labelSelector: `assay.dev/evaluation-id=${evaluationId}`,
    });
    return list.items.map((j) => `${j.metadata?.name}/${j.metadata?.uid}`);
  }

  beforeAll(async () => {
    harness = await startEvaluationHarness({ taskQueue });
    controller = startController({ config: config(`main-${run}`), logger: pino({ level: 'warn' }) });
    demoController = startController({ config: config(`demo-${run}`), logger: pino({ level: 'warn' }) });
  }, 60_000);

  afterAll(async () => {
    for (const child of children)
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await Promise.all([controller?.stop(), demoController?.stop()]);
    await harness?.close();
    if (mapped === undefined) return;
    // Resources left by a failed case: let them go without a controller.
    const left = await Promise.all(
      [mapped, demoNamespace].map(
        async (namespace) =>
          (await custom.listNamespacedCustomObject({
            group,
            version: 'v1',
            namespace,
            plural,
            labelSelector: selectorKey,
          })) as { items: Json[] },
      ),
    );
    for (const item of left.flatMap((l) => l.items)) {
      const { name, namespace } = item.metadata as { name: string; namespace: string };
      await custom
        .patchNamespacedCustomObject(
          { group, version: 'v1', namespace, plural, name, body: { metadata: { finalizers: null } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        )
        .catch(() => undefined);
      await custom
        .deleteNamespacedCustomObject({ group, version: 'v1', namespace, plural, name })
        .catch(() => undefined);
    }
  }, 60_000);

  it('runs an applied resource to Succeeded: exit code, record key, conditions; measures its API requests', async () => {
    const before = controller!.requests.snapshot();
    await create(mapped, resource('ok', `main-${run}`, 'echo hello from the controller'));
    const status = await waitForStatus('ok', 'Succeeded', (s) => s.outcome !== undefined);
    expect(status).toMatchObject({ phase: 'Completed', outcome: 'Succeeded', exitCode: 0, attempt: 1 });
    expect(status.recordKey).toBe(`evaluations/${status.evaluationId}/record.json`);
    expect(status.finishedAt).toBeDefined();
    expect(status.conditions?.map((x) => `${x.type}=${x.status}`)).toEqual([
      'Started=True',
      'Completed=True',
      'Succeeded=True',
    ]);
    const stored = await read(mapped, 'ok');
    expect((stored.metadata as { finalizers?: string[] }).finalizers).toEqual(['assay.dev/evaluation']);
    // The record is where the logs and results are; the evaluation is marked as the resource's.
    const record = await harness!.client.result(status.evaluationId!);
    expect(record.outcome).toBe('Succeeded');
    const info = await harness!.client.temporal.workflow.getHandle(`eval-${status.evaluationId}`).describe();
    expect(await info.memo?.['assay.dev/evaluation-job']).toBe(`${mapped}/ok`);
    const after = controller!.requests.snapshot();
    const perEvaluation = Object.fromEntries(
      Object.entries(after)
        .filter(
          ([k]) => !k.startsWith('kube:lease') && !k.startsWith('kube:list') && !k.startsWith('kube:watch'),
        )
        .map(([k, n]) => [k, n - (before[k] ?? 0)]),
    );
    const total = Object.values(perEvaluation).reduce((a, b) => a + b, 0);
    console.log(
      `measure: controller API requests for one evaluation (poll 1 s): ${total} ${JSON.stringify(perEvaluation)}`,
    );
    expect(total).toBeLessThan(60);
    // Deleting a finished resource lets go at once.
    await custom.deleteNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: mapped,
      plural,
      name: 'ok',
    });
    await waitFor(() => gone('ok'), { what: 'ok deleted', timeoutMs: 20_000 });
  });

  /**
   * `kubectl apply -f examples/demo/evaluation.yaml`, the file as it is, into a namespace mapped to its team: stored
   * with the team's defaults where the example has no value of its own, run to Succeeded by this suite's demo
   * controller (which takes it by a label, added as any metadata edit is), its record carrying those defaults.
   */
  async function runDemo(): Promise<void> {
    const applied = await kubectl('apply', '-n', demoNamespace, '-f', 'examples/demo/evaluation.yaml');
    expect(applied.stdout).toBe('evaluationjob.assay.dev/pi-estimate created\n');
    expect(applied.stderr).toContain('spec.priority defaulted to "high", the default of team demo');
    const stored = await read(demoNamespace, 'pi-estimate');
    const written = evaluationJobOrThrow(example('demo/evaluation.yaml'));
    // Priority is the team's; the timeout and cost-center the example sets stay; the team's other label is added.
    expect(stored.spec).toEqual({ ...(JSON.parse(JSON.stringify(written.spec)) as Json), priority: 'high' });
    expect((stored.metadata as { labels?: Json }).labels).toEqual({
      'cost-center': 'demo',
      tier: 'showcase',
    });
    await kubectl('label', '-n', demoNamespace, 'ej', 'pi-estimate', `${selectorKey}=demo-${run}`);
    const status = await waitFor(
      async () => {
        const s = (await read(demoNamespace, 'pi-estimate')).status as EvaluationJobStatus | undefined;
        // The outcome is written while the evaluation still cleans up; Completed follows (a failure ends the wait).
        return s?.phase === 'Completed' || (s?.outcome !== undefined && s.outcome !== 'Succeeded')
          ? s
          : undefined;
      },
      { what: 'pi-estimate: Completed', timeoutMs: 120_000, intervalMs: 250 },
    );
    expect(status).toMatchObject({ phase: 'Completed', outcome: 'Succeeded', exitCode: 0 });
    expect(status.recordKey).toBe(`evaluations/${status.evaluationId}/record.json`);
    const record = await harness!.client.result(status.evaluationId!);
    expect(record.result).toMatchObject({ metric: 'pi_estimate', samples: 1_000_000 });
    expect(record.spec).toMatchObject({
      metadata: { labels: { 'cost-center': 'demo', tier: 'showcase' } },
      spec: { team: 'demo', priority: 'high', timeoutSeconds: 300 },
    });
    await custom.deleteNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: demoNamespace,
      plural,
      name: 'pi-estimate',
    });
  }

  /** Deleting a running resource cancels its evaluation, its Job disappears, then the finalizer lets go. */
  async function runCancelled(): Promise<void> {
    await create(mapped, resource('cancel-me', `main-${run}`, 'sleep 300'));
    const running = await waitForStatus('cancel-me', 'Running', (s) => s.phase === 'Running', 90_000);
    const id = running.evaluationId!;
    expect(await jobsOf(id)).toHaveLength(1);
    await custom.deleteNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: mapped,
      plural,
      name: 'cancel-me',
    });
    await waitFor(() => gone('cancel-me'), { what: 'cancel-me deleted', timeoutMs: 60_000 });
    // The finalizer was removed only once the workflow had closed, and its cleanup deletes the Job.
    const record = await harness!.client.result(id);
    expect(record.outcome).toBe('Cancelled');
    await waitFor(async () => (await jobsOf(id)).length === 0, {
      what: `the Job of ${id} deleted`,
      timeoutMs: 30_000,
    });
  }

  it('deleting a running resource cancels it and its Job goes; beside it, kubectl apply -f examples/demo/evaluation.yaml runs to Succeeded', async () => {
    // Side by side (each resource has its own controller), so the demo adds little to the suite's time.
    await Promise.all([runCancelled(), runDemo()]);
  });

  it('reports a workflow terminated from outside', async () => {
    await create(mapped, resource('terminated', `main-${run}`, 'sleep 300'));
    const running = await waitForStatus('terminated', 'Running', (s) => s.phase === 'Running', 90_000);
    await harness!.client.temporal.workflow
      .getHandle(`eval-${running.evaluationId}`)
      .terminate('test: from outside');
    const ended = await waitForStatus('terminated', 'an outcome', (s) => s.outcome !== undefined, 30_000);
    expect(ended).toMatchObject({
      phase: 'Completed',
      outcome: 'InfrastructureError',
      reason: 'WorkflowTerminated',
    });
    // Nothing cleaned up after the terminated workflow: its Job and the pod on the capture finalizer are the janitor's
    // (here only this evaluation's, so nothing of a suite running beside this one is touched).
    const id = running.evaluationId!;
    const report = await sweepCluster(
      { dryRun: false, minAgeSeconds: 0, namespace: jobNamespace },
      {
        kube: harness!.kube,
        workflowState: (e) =>
          Promise.resolve(
            e === id ? { state: 'closed', status: 'TERMINATED', closedAt: null } : { state: 'running' },
          ),
        log: { info: () => undefined, warn: () => undefined },
      },
    );
    expect(report.fixes.map((f) => f.kind).sort()).toEqual(['job', 'pod-finalizer']);
    await waitFor(async () => (await jobsOf(id)).length === 0, {
      what: `the Job of ${id} deleted`,
      timeoutMs: 30_000,
    });
  });

  it('with Temporal unreachable: a StartFailed condition, retried with back-off, no crash', async () => {
    const down = startController({
      config: config(`down-${run}`, { TEMPORAL_ADDRESS: '127.0.0.1:1' }),
      logger: pino({ level: 'silent' }),
    });
    try {
      await create(mapped, resource('no-temporal', `down-${run}`, 'true'));
      const status = await waitForStatus('no-temporal', 'a StartFailed condition', (s) =>
        (s.conditions ?? []).some((x) => x.type === 'Started' && x.reason === 'StartFailed'),
      );
      const condition = status.conditions!.find((x) => x.type === 'Started')!;
      expect(condition.status).toBe('False');
      expect(condition.message).toContain('cannot start the evaluation (retried with back-off)');
      await waitFor(() => down.requests.snapshot()['temporal:start']! >= 2, {
        what: 'a second start attempt',
        timeoutMs: 30_000,
      });
      expect(down.elector.isLeader).toBe(true);
    } finally {
      await down.stop();
    }
  });

  it('two replicas: SIGKILL of the leader hands over within the lease duration; status completes; one Job', async () => {
    const selector = `ha-${run}`;
    const lines: { identity: string; msg: string; at: number }[] = [];
    const spawnReplica = (identity: string): ChildProcess => {
      const child = spawn(
        process.execPath,
        [
          '--import',
          'tsx',
          'src/client/cli/main.ts',
          'controller',
          '--task-queue',
          taskQueue,
          '--selector',
          `${selectorKey}=${selector}`,
          '--lease-name',
          `ctl-${selector}`,
          '--lease-namespace',
          mapped,
          '--identity',
          identity,
          '--poll-interval',
          '1',
        ],
        { cwd: projectRoot, env: process.env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      let buffer = '';
      child.stderr?.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        let nl;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          try {
            lines.push({ identity, msg: (JSON.parse(line) as { msg: string }).msg, at: Date.now() });
          } catch {
            // not a log line
          }
        }
      });
      children.push(child);
      return child;
    };
    const replicas = { a: spawnReplica('replica-a'), b: spawnReplica('replica-b') };
    const leaderLine = await waitFor(() => lines.find((l) => l.msg === 'started leading'), {
      what: 'a replica leading',
      timeoutMs: 30_000,
    });
    const leader = leaderLine.identity === 'replica-a' ? replicas.a : replicas.b;
    const standby = leaderLine.identity === 'replica-a' ? 'replica-b' : 'replica-a';
    await waitFor(() => lines.some((l) => l.identity === standby && l.msg === 'campaigning for the lease'), {
      what: 'the standby campaigning',
      timeoutMs: 30_000,
    });

    await create(mapped, resource('ha', selector, 'for i in $(seq 1 25); do echo $i; sleep 1; done'));
    const running = await waitForStatus('ha', 'Running', (s) => s.phase === 'Running', 90_000);
    const id = running.evaluationId!;
    const jobs = new Set<string>();
    const sampling = setInterval(() => {
      void jobsOf(id).then(
        (names) => names.forEach((n) => jobs.add(n)),
        () => undefined,
      );
    }, 500);
    try {
      const exited = new Promise((r) => leader.once('exit', r));
      const killedAt = Date.now();
      leader.kill('SIGKILL');
      await exited;
      const takeover = await waitFor(
        () => lines.find((l) => l.identity === standby && l.msg === 'started leading'),
        { what: 'the standby leading', timeoutMs: 25_000 },
      );
      const handOverMs = takeover.at - killedAt;
      console.log(
        `measure: leader hand-over after SIGKILL: ${handOverMs} ms (lease 15 s, renew 5 s, retry 2 s)`,
      );
      expect(handOverMs).toBeLessThanOrEqual(16_000);
      const ended = await waitForStatus('ha', 'Succeeded', (s) => s.outcome !== undefined, 60_000);
      expect(ended).toMatchObject({ outcome: 'Succeeded', exitCode: 0, attempt: 1, evaluationId: id });
    } finally {
      clearInterval(sampling);
    }
    expect(jobs.size).toBe(1);
    // One evaluation: one workflow run under the id.
    let runs = 0;
    for await (const _ of harness!.client.temporal.workflow.list({ query: `WorkflowId = 'eval-${id}'` }))
      runs++;
    expect(runs).toBe(1);
  });
});

describe('janitor', () => {
  const taskQueue = `jan-${ulid().toLowerCase().slice(-8)}`;
  let harness: EvaluationHarness | undefined;
  let namespace: string | undefined;

  beforeAll(async () => {
    harness = await startEvaluationHarness({ taskQueue });
    namespace = await createKubeNamespace(c, 'jan');
  }, 60_000);

  afterAll(async () => {
    await harness?.client.temporal.schedule
      .getHandle(janitorScheduleId(taskQueue))
      .delete()
      .catch(() => undefined);
    if (namespace !== undefined) {
      const pods = await c.core.listNamespacedPod({ namespace });
      for (const pod of pods.items)
        await c.core
          .patchNamespacedPod(
            { name: pod.metadata!.name!, namespace, body: { metadata: { finalizers: null } } },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          )
          .catch(() => undefined);
    }
    await deleteNamespace(c, namespace);
    await harness?.close();
  }, 60_000);

  it('reports, then removes, an orphaned Job, a stuck capture finalizer, an attempt NetworkPolicy and a multipart upload', async () => {
    const ns = namespace!;
    const tag = ulid().toLowerCase().slice(-10);
    const evaluationId = `jan-${tag}-gone`;
    // Multipart uploads in the real S3 with parts stored: one of that missing evaluation, one of a live one (a
    // workflow `eval-<id>` that runs: on a queue no worker serves, so it stays running until terminated below).
    const store = harness!.store;
    const liveId = `jan-${tag}-live`;
    const live = await harness!.client.temporal.workflow.start('liveOwner', {
      taskQueue: `nobody-${tag}`,
      workflowId: `eval-${liveId}`,
    });
    const uploads = await Promise.all(
      [evaluationId, liveId].map(async (id) => {
        const upload = await store.createMultipart(`evaluations/${id}/attempts/1/stdout.log`);
        await store.uploadPart(upload.key, upload.uploadId, 1, 'a line that was never completed\n');
        return upload;
      }),
    );
    const openUploads = async () =>
      (await collect(store.listMultipartUploads(`evaluations/jan-${tag}-`))).map((u) => u.uploadId).sort();
    const labels = {
      'app.kubernetes.io/managed-by': 'assay',
      'assay.dev/evaluation-id': evaluationId,
      'assay.dev/attempt': '1',
    };
    const container = {
      name: 'main',
      image: BUSYBOX,
      imagePullPolicy: 'Never',
      command: ['sleep', '3600'],
      securityContext: restrictedSecurityContext,
    };
    await c.batch.createNamespacedJob({
      namespace: ns,
      body: {
        metadata: { name: `assay-${evaluationId}-1`, labels },
        spec: {
          suspend: true,
          template: { metadata: { labels }, spec: { restartPolicy: 'Never', containers: [container] } },
        },
      },
    });
    await c.core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: `stuck-${evaluationId}`, labels, finalizers: ['assay.dev/capture'] },
        spec: { restartPolicy: 'Never', terminationGracePeriodSeconds: 0, containers: [container] },
      },
    });
    await c.kc.makeApiClient(NetworkingV1Api).createNamespacedNetworkPolicy({
      namespace: ns,
      body: {
        metadata: { name: `assay-${evaluationId}-1-egress`, labels },
        spec: { podSelector: { matchLabels: labels }, policyTypes: ['Egress'] },
      },
    });

    const sweep = (dryRun: boolean) =>
      harness!.client.temporal.workflow.execute('janitor', {
        taskQueue,
        workflowId: `janitor-${ulid().toLowerCase()}`,
        args: [
          {
            clusters: ['local'],
            dryRun,
            minAgeSeconds: 0,
            namespace: ns,
            uploadPrefix: `evaluations/jan-${tag}-`,
          },
        ],
      }) as Promise<JanitorResult>;
    const kinds = (report: JanitorResult) =>
      [
        ...report.clusters.local!.fixes.map((f) => `${f.kind} ${f.name}`),
        ...(report.uploads?.fixes ?? []).map((f) => `${f.kind} ${f.key} ${f.workflow}`),
      ].sort();
    const expected = [
      `job assay-${evaluationId}-1`,
      `multipart-upload evaluations/${evaluationId}/attempts/1/stdout.log missing`,
      `network-policy assay-${evaluationId}-1-egress`,
      `pod-finalizer stuck-${evaluationId}`,
    ];

    const counter = () => register.getSingleMetric('assay_janitor_fixes_total')?.get();
    try {
      const dry = await sweep(true);
      expect(kinds(dry)).toEqual(expected);
      expect([dry.clusters.local!.errors, dry.uploads!.errors]).toEqual([[], []]);
      expect(dry.uploads!.listed).toBe(2);
      // Nothing changed.
      expect(
        await c.batch.readNamespacedJob({ name: `assay-${evaluationId}-1`, namespace: ns }),
      ).toBeDefined();
      expect(
        (await c.core.readNamespacedPod({ name: `stuck-${evaluationId}`, namespace: ns })).metadata
          ?.finalizers,
      ).toEqual(['assay.dev/capture']);
      expect(await openUploads()).toEqual(uploads.map((u) => u.uploadId).sort());

      const fixed = await sweep(false);
      expect(kinds(fixed)).toEqual(expected);
      // The live evaluation's upload stays.
      expect(await openUploads()).toEqual([uploads[1]!.uploadId]);
    } finally {
      await live.terminate('test: the live owner is no longer needed').catch(() => undefined);
      await Promise.all(uploads.map((u) => store.abortMultipart(u.key, u.uploadId)));
    }
    await waitFor(
      async () => {
        const [jobs, pods, policies] = await Promise.all([
          c.batch.listNamespacedJob({
            namespace: ns,
            labelSelector: `assay.dev/evaluation-id=${evaluationId}`,
          }),
          c.core.listNamespacedPod({
            namespace: ns,
            labelSelector: `assay.dev/evaluation-id=${evaluationId}`,
          }),
          c.kc.makeApiClient(NetworkingV1Api).listNamespacedNetworkPolicy({ namespace: ns }),
        ]);
        return jobs.items.length === 0 && pods.items.length === 0 && policies.items.length === 0;
      },
      { what: 'the orphans gone', timeoutMs: 60_000 },
    );
    const values = (await counter())?.values ?? [];
    const count = (kind: string, mode: string) =>
      values.find((v) => v.labels.kind === kind && v.labels.mode === mode)?.value ?? 0;
    expect(count('job', 'fixed')).toBeGreaterThanOrEqual(1);
    expect(count('pod-finalizer', 'dry-run')).toBeGreaterThanOrEqual(1);
    expect(count('multipart-upload', 'fixed')).toBeGreaterThanOrEqual(1);
    expect(count('multipart-upload', 'dry-run')).toBeGreaterThanOrEqual(1);
    // A second sweep finds nothing left.
    expect(kinds(await sweep(false))).toEqual([]);
  });

  it('the janitor schedule is created once per task queue', async () => {
    const client = harness!.client.temporal;
    expect(await ensureJanitorSchedule(client, { taskQueue, clusters: ['local'] })).toBe(true);
    expect(await ensureJanitorSchedule(client, { taskQueue, clusters: ['local'] })).toBe(false);
    const description = await client.schedule.getHandle(janitorScheduleId(taskQueue)).describe();
    expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'janitor', taskQueue });
  });
});

describe('EvaluationJob admission on the real API server', () => {
  it('applies the examples unchanged with kubectl apply -f, stored with their defaults; kubectl shows the columns and field docs', async () => {
    const minimal = await kubectl('apply', '-n', mapped, '-f', 'examples/minimal.yaml');
    expect(minimal.stderr).toBe('');
    expect(minimal.stdout).toBe('evaluationjob.assay.dev/hello created\n');
    const full = await kubectl('apply', '-f', 'examples/full.yaml');
    expect(full.stderr).toBe('');
    expect(full.code).toBe(0);

    // Stored exactly as `assay run -f` would run it: the normalised spec.
    expect((await read(mapped, 'hello')).spec).toEqual(
      JSON.parse(JSON.stringify(evaluationJobOrThrow(example('minimal.yaml')).spec)),
    );
    expect((await read(fullNamespace, 'mmlu-llama-8b')).spec).toEqual(
      JSON.parse(JSON.stringify(evaluationJobOrThrow(example('full.yaml')).spec)),
    );
    // Applying again changes nothing.
    expect((await kubectl('apply', '-n', mapped, '-f', 'examples/minimal.yaml')).stdout).toBe(
      'evaluationjob.assay.dev/hello unchanged\n',
    );

    const table = await kubectl('get', 'ej', '-n', mapped);
    expect(table.stdout.split('\n')[0]?.split(/\s+/)).toEqual([
      'NAME',
      'TEAM',
      'USER',
      'PHASE',
      'OUTCOME',
      'EXIT',
      'ATTEMPT',
      'AGE',
    ]);
    expect(table.stdout.split('\n')[1]).toMatch(/^hello\s+ml-research\s+alice\s+/);
    const explain = await kubectl('explain', 'evaluationjob.spec.resources');
    expect(explain.stdout).toContain('Compute resources of the main container');
    expect(explain.stdout).toContain('Limits; each defaults to its request and must not be below it.');
  });

  it('defaults spec.team from the namespace label and spec.user from the authenticated user', async () => {
    const created = await create(mapped, job('defaults', { image: 'busybox:1' }));
    expect(created.spec).toMatchObject({
      team,
      user: 'assay-admin', // the stack's admin kubeconfig authenticates as assay-admin
      timeoutSeconds: 3600,
      resources: { cpu: '1', memory: '1Gi', limits: { cpu: '1', memory: '1Gi' } },
    });
  });

  it('refuses an invalid resource, with every field path in the message and as a cause', async () => {
    const status = await refused(
      create(
        mapped,
        job('invalid', {
          image: 'busybox:1',
          resources: { memory: '2Gi', limits: { memory: '1Gi' } },
          artifacts: { paths: ['/abs'] },
        }),
      ),
    );
    expect(status.code).toBe(422);
    expect(status.message).toContain(
      'admission webhook "validate.evaluationjobs.assay.dev" denied the request',
    );
    expect(status.message).toContain('spec.resources.limits.memory: limit 1Gi is below the request 2Gi');
    expect(status.message).toContain('spec.artifacts.paths[0]: "/abs" must be relative');
    expect(status.details?.causes?.map((cause) => cause.field)).toEqual([
      'spec.resources.limits.memory',
      'spec.artifacts.paths[0]',
    ]);
  });

  it('refuses a resource in a namespace that is not mapped to a team', async () => {
    const status = await refused(create(unmapped, job('nowhere', { team, image: 'busybox:1' })));
    expect(status.code).toBe(403);
    expect(status.message).toContain(
      `namespace ${unmapped} is not mapped to a team: label it with assay.dev/team=<team>`,
    );
  });

  it('stores a v1alpha1 resource as v1 and reads it back as v1alpha1 unchanged', async () => {
    // Sent as stored (normalised), so "unchanged" means equal to what was sent.
    const v1Spec = JSON.parse(JSON.stringify(evaluationJobOrThrow(example('minimal.yaml')).spec)) as Json;
    const alphaSpec = specToV1alpha1(v1Spec) as Json;
    expect(alphaSpec).toMatchObject({ cpu: '1', memory: '1Gi', limits: { cpu: '1' } });
    const created = await create(mapped, job('old-shape', alphaSpec, 'assay.dev/v1alpha1'), 'v1alpha1');
    expect(created.spec).toEqual(alphaSpec);

    const asV1 = await read(mapped, 'old-shape', 'v1');
    expect(asV1.apiVersion).toBe('assay.dev/v1');
    expect(asV1.spec).toEqual(v1Spec);
    expect(specFromV1alpha1(alphaSpec)).toEqual(v1Spec);

    const asAlpha = await read(mapped, 'old-shape', 'v1alpha1');
    expect(asAlpha.apiVersion).toBe('assay.dev/v1alpha1');
    expect(asAlpha.spec).toEqual(alphaSpec);
    expect(asAlpha.metadata).toEqual(created.metadata);
  });

  it('refuses an edit of the spec, and lets metadata change', async () => {
    await create(mapped, job('fixed', { image: 'busybox:1' }));
    const patch = (body: Json) =>
      custom.patchNamespacedCustomObject(
        { group, version: 'v1', namespace: mapped, plural, name: 'fixed', body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const status = await refused(patch({ spec: { image: 'busybox:2', timeoutSeconds: 60 } }));
    expect(status.code).toBe(422);
    expect(status.message).toContain(
      'the spec is immutable once created (changed: spec.image, spec.timeoutSeconds)',
    );
    expect(status.details?.causes?.map((cause) => cause.field)).toEqual([
      'spec.image',
      'spec.timeoutSeconds',
    ]);
    const relabelled = (await patch({ metadata: { labels: { stage: 'two' } } })) as Json;
    expect(relabelled.metadata).toMatchObject({ labels: { stage: 'two' } });
    expect((relabelled.spec as Json).image).toBe('busybox:1');
  });

  it('with the admission server down, refuses EvaluationJobs and leaves every other resource alone', async () => {
    await admission?.stop();
    admission = undefined;
    await c.core.createNamespacedConfigMap({
      namespace: unmapped,
      body: { metadata: { name: 'unrelated' }, data: { a: 'b' } },
    });
    const status = await refused(create(mapped, job('while-down', { image: 'busybox:1' })));
    expect(status.message).toMatch(
      /failed calling webhook "mutate\.evaluationjobs\.assay\.dev": failed to call webhook: Post "https:\/\/127\.0\.0\.1:18443\/mutate\?timeout=5s": dial tcp 127\.0\.0\.1:18443: connect: connection refused/,
    );
    // What exists can still be read and deleted (no webhook on DELETE).
    await custom.deleteNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: mapped,
      plural,
      name: 'fixed',
    });
  });
});
