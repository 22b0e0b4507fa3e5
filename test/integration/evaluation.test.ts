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
import { execStream } from '../../src/kube/exec-stream.js';
import { observeEvaluation, waitUntilGone, type EvaluationObserver } from '../support/cluster-observer.js';
import { waitFor } from '../support/wait-for.js';
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

/** Runs `command` in the main container of `pod`; fails unless it exits 0. */
async function execInMain(pod: string, command: string[]): Promise<void> {
  const exec = await execStream(kube.config, { namespace, pod, container: 'main', command });
  exec.stdout.resume();
  const outcome = await exec.done;
  if (outcome.exitCode !== 0) throw new Error(`${command.join(' ')} in ${pod}: ${JSON.stringify(outcome)}`);
}

/**
 * Expects the API server to have shown exactly one Job and one pod of `evaluationId` over the whole observation —
 * both of attempt `attempt` — and the observation to have no gap.
 */
function expectOneJobAndPod(observer: EvaluationObserver, evaluationId: string, attempt = 1): void {
  expect(observer.gaps()).toEqual([]);
  expect(observer.jobs().map((j) => [j.name, j.attempt])).toEqual([
    [`assay-${evaluationId}-${attempt}`, String(attempt)],
  ]);
  expect(observer.pods().map((p) => p.attempt)).toEqual([String(attempt)]);
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

  it('a missing image → ConfigurationError, without a second attempt (the spec allows two)', async () => {
    const id = newId('noimg');
    const observer = await observeEvaluation(kube, id);
    try {
      const started = await client.start(
        manifest({ image: 'localhost/assay/does-not-exist:1', command: ['true'] }),
        { idempotencyKey: id },
      );
      const record = await client.result(started.evaluationId);
      expect(record).toMatchObject({ outcome: 'ConfigurationError', reason: 'ErrImageNeverPull' });
      expect(record.attempts).toHaveLength(1);
      // The cluster agrees: one Job, for attempt 1, was ever created.
      await waitUntilGone(kube, id, 60_000);
      expectOneJobAndPod(observer, id);
    } finally {
      observer.stop();
    }
    await maybeSaveHistory('configuration-error', id);
  }, 120_000);

  it('the same idempotency key twice → one workflow, one Job', async () => {
    const key = newId('idem');
    const observer = await observeEvaluation(kube, key);
    try {
      const spec = manifest({ command: ['sh', '-c', 'sleep 3; echo once'] });
      const first = await client.start(spec, { idempotencyKey: key });
      const { runId } = await client.temporal.workflow.getHandle(first.workflowId).describe();
      const second = await client.start(spec, { idempotencyKey: key });
      expect(first.existing).toBe(false);
      expect(second).toMatchObject({ evaluationId: key, workflowId: first.workflowId, existing: true });
      const record = await client.result(key);
      expect(record.outcome).toBe('Succeeded');
      // Also once it has finished, the key names the same evaluation and nothing runs again.
      const third = await client.start(spec, { idempotencyKey: key });
      expect(third.existing).toBe(true);
      expect((await client.temporal.workflow.getHandle(first.workflowId).describe()).runId).toBe(runId);
      // Visibility is eventually consistent: wait until it lists the finished run, then there must be no other.
      const runs = await waitFor(
        async () => {
          const listed = [];
          for await (const e of client.temporal.workflow.list({
            query: `WorkflowId = '${first.workflowId}'`,
          }))
            listed.push(e);
          return listed.some((e) => e.status.name === 'COMPLETED') ? listed : undefined;
        },
        { timeoutMs: 30_000, what: `visibility to list ${first.workflowId} completed` },
      );
      expect(runs.map((e) => e.runId)).toEqual([runId]);
      // The cluster agrees: one Job and one pod were ever created for the key.
      await waitUntilGone(kube, key, 60_000);
      expectOneJobAndPod(observer, key);
    } finally {
      observer.stop();
    }
  }, 120_000);

  it('cancel mid-run → Cancelled, the stdout so far kept, the Job and its pod gone', async () => {
    const id = newId('cancel');
    const observer = await observeEvaluation(kube, id);
    try {
      const started = await client.start(manifest({ command: ['sh', '-c', 'echo started; sleep 600'] }), {
        idempotencyKey: id,
      });
      await observer.runningPod(1, 90_000);
      await client.cancel(started.evaluationId);
      const record = await client.result(started.evaluationId);
      expect(record.outcome).toBe('Cancelled');
      expect(record.attempts[0]?.logs?.stdout).toBeDefined();
      expect((await store.getBytes(record.attempts[0]!.logs!.stdout!)).toString()).toBe('started\n');
      await waitUntilGone(kube, id, 60_000);
      expectOneJobAndPod(observer, id);
      expect(observer.jobs().every((j) => j.deleted)).toBe(true);
      expect(observer.pods().every((p) => p.deleted)).toBe(true);
    } finally {
      observer.stop();
    }
    await maybeSaveHistory('cancelled', id);
  }, 120_000);
});

describe('a worker killed with SIGKILL while the pod runs', () => {
  const workerProcesses = createWorkerProcesses();
  const crashQueue = `assay-it-crash-${runTag}`;

  afterAll(() => workerProcesses.killAll());

  it('a new worker completes the evaluation with exactly one Job for attempt 1', async () => {
    const crashClient = new AssayClient(client.temporal, { taskQueue: crashQueue });
    const first = await workerProcesses.start(crashQueue);
    const id = newId('crash');
    const observer = await observeEvaluation(kube, id);
    try {
      // The pod cannot end before the test lets it (by creating /tmp/go), so the worker dies while it runs.
      await crashClient.start(
        manifest({ command: ['sh', '-c', 'until [ -e /tmp/go ]; do sleep 1; done; echo survived'] }),
        { idempotencyKey: id },
      );
      const pod = await observer.runningPod(1, 90_000);
      await workerProcesses.kill(first);
      // Read again after the kill: the pod was running when the worker died.
      const afterKill = await kube.core.readNamespacedPod({ name: pod.name, namespace });
      expect(
        afterKill.status?.containerStatuses?.find((c) => c.name === 'main')?.state?.running,
      ).toBeDefined();
      await workerProcesses.start(crashQueue);
      await execInMain(pod.name, ['touch', '/tmp/go']);
      const record = await crashClient.result(id);
      expect(record.outcome).toBe('Succeeded');
      expect(record.attempts).toHaveLength(1);
      expect((await store.getBytes(record.attempts[0]!.logs!.stdout!)).toString()).toBe('survived\n');
      // The cluster agrees: over the whole run, one Job and one pod — the one that ran through the crash.
      await waitUntilGone(kube, id, 60_000);
      expectOneJobAndPod(observer, id);
      expect(observer.pods()[0]?.uid).toBe(pod.uid);
    } finally {
      observer.stop();
    }
    await maybeSaveHistory('worker-killed', id);
  }, 240_000);
});
