/**
 * The evaluation workflow end to end on the real local stack: real Temporal, real Kubernetes, real S3, real workers
 * (in this process, on an isolated task queue; for the crash test, child processes killed with SIGKILL).
 * After every test no Job, pod or finalizer of ours is left in the test's namespace.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { temporal } from '@temporalio/proto';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import type { KubeClients } from '../../src/kube/clients.js';
import type { EvaluationRecord, EvaluationStatus } from '../../src/spec/record.js';
import { evaluationWorkflowId } from '../../src/spec/names.js';
import { storageKeys } from '../../src/spec/storage-keys.js';
import { captureFinalizer, labelKeys } from '../../src/spec/kube-labels.js';
import type { S3ObjectStore } from '../../src/storage/index.js';
import {
  createWorkerProcesses,
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import { BUSYBOX, PYTHON, eventually } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `it-${runTag}`;
const namespace = `assay-${team}`;
const taskQueue = `assay-it-${runTag}`;
const historiesDir = join(process.cwd(), 'test', 'workflows', 'histories');

let harness: EvaluationHarness;
let client: AssayClient;
let kube: KubeClients;
let store: S3ObjectStore;

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '64Mi' },
    timeoutSeconds: 120,
    retries: { maxAttempts: 2, backoffSeconds: 1 },
  },
});

async function status(evaluationId: string): Promise<EvaluationStatus | undefined> {
  try {
    return await client.status(evaluationId);
  } catch {
    return undefined;
  }
}

/** Waits until the evaluation's main container runs (its pod is known and Running). */
async function waitForRunningPod(evaluationId: string): Promise<string> {
  return eventually(
    `evaluation ${evaluationId} running`,
    async () => {
      const s = await status(evaluationId);
      if (s?.phase !== 'Running') return undefined;
      const pods = await kube.core.listNamespacedPod({
        namespace,
        labelSelector: `${labelKeys.evaluationId}=${evaluationId},${labelKeys.attempt}=${s.attempt}`,
      });
      const pod = pods.items.find((p) =>
        p.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running !== undefined),
      );
      return pod?.metadata?.name;
    },
    90_000,
  );
}

/**
 * Saves the history under test/workflows/histories when ASSAY_RECORD_HISTORIES=1, replayed by the workflow tier. The
 * binary protobuf encoding is used: this install's `historyToJSON` fails (two protobufjs versions meet in it).
 */
async function maybeSaveHistory(name: string, evaluationId: string): Promise<void> {
  if (process.env.ASSAY_RECORD_HISTORIES !== '1') return;
  const history = await client.temporal.workflow.getHandle(evaluationWorkflowId(evaluationId)).fetchHistory();
  await mkdir(historiesDir, { recursive: true });
  await writeFile(
    join(historiesDir, `${name}.binpb`),
    temporal.api.history.v1.History.encode(history).finish(),
  );
}

async function createJobCount(evaluationId: string): Promise<number> {
  const history = await client.temporal.workflow.getHandle(evaluationWorkflowId(evaluationId)).fetchHistory();
  return (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'createJob',
  ).length;
}

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue });
  ({ client, kube, store } = harness);
}, 180_000);

afterEach(async () => {
  // Nothing of ours may outlive a test: no Job, no pod, no pod with our finalizer.
  const leftovers = await eventually(
    'no Assay Job or pod left',
    async () => {
      const jobs = await kube.batch.listNamespacedJob({ namespace, labelSelector: labelKeys.evaluationId });
      const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: labelKeys.evaluationId });
      const left = [
        ...jobs.items.map((j) => `job/${j.metadata?.name}`),
        ...pods.items.map(
          (p) =>
            `pod/${p.metadata?.name}${p.metadata?.finalizers?.includes(captureFinalizer) ? ' (finalizer)' : ''}`,
        ),
      ];
      return left.length === 0 ? left : undefined;
    },
    60_000,
  ).catch(async (err: unknown) => {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: labelKeys.evaluationId });
    throw new Error(
      `${err instanceof Error ? err.message : String(err)}: ${pods.items.map((p) => `${p.metadata?.name} finalizers=${JSON.stringify(p.metadata?.finalizers)}`).join(', ')}`,
    );
  });
  expect(leftovers).toEqual([]);
}, 90_000);

afterAll(async () => {
  await harness?.close();
  await kube?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
}, 60_000);

describe('evaluation on the real stack', () => {
  it('exit 0 → Succeeded, with the result, split logs and the record stored', async () => {
    const started = await client.start(
      manifest({
        command: [
          'sh',
          '-c',
          'echo progress; echo careful >&2; printf \'{"score": 0.75}\' > /dev/termination-log',
        ],
      }),
      { idempotencyKey: newId('ok') },
    );
    const record = await client.result(started.evaluationId);
    expect(record).toMatchObject({ outcome: 'Succeeded', exitCode: 0, result: { score: 0.75 }, namespace });
    expect(record.attempts).toHaveLength(1);
    const logs = record.attempts[0]?.logs;
    expect(logs?.split).toBe(true);
    expect((await store.getBytes(logs!.stdout!)).toString()).toBe('progress\n');
    expect((await store.getBytes(logs!.stderr!)).toString()).toBe('careful\n');
    const stored = JSON.parse(
      (await store.getBytes(storageKeys.record(started.evaluationId))).toString(),
    ) as EvaluationRecord;
    expect(stored.outcome).toBe('Succeeded');
    await maybeSaveHistory('succeeded', started.evaluationId);
  }, 120_000);

  it('exit 3 → Failed with exit code 3, not retried', async () => {
    const started = await client.start(manifest({ command: ['sh', '-c', 'echo failing; exit 3'] }), {
      idempotencyKey: newId('fail'),
    });
    const record = await client.result(started.evaluationId);
    expect(record).toMatchObject({ outcome: 'Failed', exitCode: 3 });
    expect(record.attempts).toHaveLength(1);
    await maybeSaveHistory('failed', started.evaluationId);
  }, 120_000);

  it('memory limit exceeded → Failed with reason OOMKilled', async () => {
    const started = await client.start(
      manifest({
        image: PYTHON,
        command: ['python3', '-c', 'b = bytearray(256 * 1024 * 1024); print(len(b))'],
        resources: { cpu: '200m', memory: '32Mi', ephemeralStorage: '64Mi' },
      }),
      { idempotencyKey: newId('oom') },
    );
    const record = await client.result(started.evaluationId);
    expect(record).toMatchObject({ outcome: 'Failed', reason: 'OOMKilled' });
    expect(record.attempts).toHaveLength(1);
  }, 120_000);

  it('timeoutSeconds exceeded → TimedOut', async () => {
    const started = await client.start(manifest({ command: ['sleep', '600'], timeoutSeconds: 3 }), {
      idempotencyKey: newId('slow'),
    });
    const record = await client.result(started.evaluationId);
    expect(record).toMatchObject({ outcome: 'TimedOut', reason: 'DeadlineExceeded' });
    expect(record.attempts).toHaveLength(1);
    await maybeSaveHistory('timed-out', started.evaluationId);
  }, 120_000);

  it('the pod deleted from outside during the run → attempt 2 runs and succeeds', async () => {
    const started = await client.start(
      manifest({
        command: [
          'sh',
          '-c',
          'if [ "$ASSAY_ATTEMPT" = 1 ]; then sleep 600; fi; echo "attempt $ASSAY_ATTEMPT ok"',
        ],
      }),
      { idempotencyKey: newId('lost') },
    );
    const pod = await waitForRunningPod(started.evaluationId);
    await kube.core.deleteNamespacedPod({ name: pod, namespace });
    const record = await client.result(started.evaluationId);
    expect(record.outcome).toBe('Succeeded');
    expect(record.attempts.map((a) => [a.attempt, a.kind])).toEqual([
      [1, 'Infrastructure'],
      [2, 'Succeeded'],
    ]);
    expect(record.attempts[0]?.reason).toBe('PodDeleted');
    expect((await store.getBytes(record.attempts[1]!.logs!.stdout!)).toString()).toBe('attempt 2 ok\n');
    await maybeSaveHistory('pod-deleted-retried', started.evaluationId);
  }, 180_000);

  it('a missing image → ConfigurationError within seconds', async () => {
    const t0 = Date.now();
    const started = await client.start(
      manifest({ image: 'localhost/assay/does-not-exist:1', command: ['true'] }),
      {
        idempotencyKey: newId('noimg'),
      },
    );
    const record = await client.result(started.evaluationId);
    expect(record).toMatchObject({ outcome: 'ConfigurationError', reason: 'ErrImageNeverPull' });
    expect(record.attempts).toHaveLength(1);
    expect(Date.now() - t0).toBeLessThan(30_000);
    await maybeSaveHistory('configuration-error', started.evaluationId);
  }, 120_000);

  it('the same idempotency key twice → one workflow, one Job', async () => {
    const key = newId('idem');
    const spec = manifest({ command: ['sh', '-c', 'sleep 3; echo once'] });
    const first = await client.start(spec, { idempotencyKey: key });
    const second = await client.start(spec, { idempotencyKey: key });
    expect(first.existing).toBe(false);
    expect(second).toMatchObject({ evaluationId: key, workflowId: first.workflowId, existing: true });
    const record = await client.result(key);
    expect(record.outcome).toBe('Succeeded');
    // Also once it has finished, the key names the same evaluation and nothing runs again.
    const third = await client.start(spec, { idempotencyKey: key });
    expect(third.existing).toBe(true);
    const runs = [];
    for await (const e of client.temporal.workflow.list({ query: `WorkflowId = '${first.workflowId}'` }))
      runs.push(e);
    expect(runs).toHaveLength(1);
    expect(await createJobCount(key)).toBe(1);
  }, 120_000);

  it('cancel mid-run → Job gone, Cancelled', async () => {
    const started = await client.start(manifest({ command: ['sh', '-c', 'echo started; sleep 600'] }), {
      idempotencyKey: newId('cancel'),
    });
    await waitForRunningPod(started.evaluationId);
    await client.cancel(started.evaluationId);
    const record = await client.result(started.evaluationId);
    expect(record.outcome).toBe('Cancelled');
    expect(record.attempts[0]?.logs?.stdout).toBeDefined();
    expect((await store.getBytes(record.attempts[0]!.logs!.stdout!)).toString()).toBe('started\n');
    await expect(
      kube.batch.readNamespacedJob({ name: record.attempts[0]!.job, namespace }),
    ).rejects.toMatchObject({ code: 404 });
    await maybeSaveHistory('cancelled', started.evaluationId);
  }, 120_000);
});

describe('a worker killed with SIGKILL while the pod runs', () => {
  const workerProcesses = createWorkerProcesses();
  const crashQueue = `assay-it-crash-${runTag}`;

  afterAll(() => workerProcesses.killAll());

  it('a new worker completes the evaluation with exactly one Job for attempt 1', async () => {
    const crashClient = new AssayClient(client.temporal, { taskQueue: crashQueue });
    const first = await workerProcesses.start(crashQueue);
    const started = await crashClient.start(manifest({ command: ['sh', '-c', 'sleep 12; echo survived'] }), {
      idempotencyKey: newId('crash'),
    });
    await waitForRunningPod(started.evaluationId);
    await workerProcesses.kill(first);
    await workerProcesses.start(crashQueue);
    const record = await crashClient.result(started.evaluationId);
    expect(record.outcome).toBe('Succeeded');
    expect(record.attempts).toHaveLength(1);
    expect(record.attempts[0]?.job).toBe(`assay-${started.evaluationId}-1`);
    expect((await store.getBytes(record.attempts[0]!.logs!.stdout!)).toString()).toBe('survived\n');
    await maybeSaveHistory('worker-killed', started.evaluationId);
  }, 240_000);
});
