/**
 * Log capture on the real local stack (issue 5): real pods print, real workers capture into the real S3 server.
 * Every stored line is checked: exactly once, in order per stream. Worker child processes are killed with SIGKILL
 * during one capture. (The S3 outage during a capture stops a shared server, so it has its own file that runs alone:
 * `s3-outage.test.ts`.) How soon `assay logs -f` shows a line is a figure of `bench/follow.ts`, not a test.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import type { KubeClients } from '../../src/kube/clients.js';
import { followLogs } from '../../src/client/follow.js';
import type { LogEvent } from '../../src/logs/events.js';
import { labelKeys } from '../../src/spec/kube-labels.js';
import type { S3ObjectStore } from '../../src/storage/index.js';
import {
  createWorkerProcesses,
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import {
  chainedTracebackScript,
  expectAllLines,
  numberedLines,
  pendingCapture,
  storedLogParts,
} from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';
import { PYTHON, eventually } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `lg-${runTag}`;
const namespace = `assay-${team}`;
const taskQueue = `assay-logs-${runTag}`;

let harness: EvaluationHarness;
let client: AssayClient;
let kube: KubeClients;
let store: S3ObjectStore;

const evaluation = manifestBuilder({
  team,
  defaults: {
    image: PYTHON,
    resources: { cpu: '500m', memory: '128Mi', ephemeralStorage: '512Mi' },
    timeoutSeconds: 600,
    retries: { maxAttempts: 1, backoffSeconds: 1 },
  },
});

/** A manifest running the Python `script`; `extra` adds to or overrides its spec. */
function manifest(script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return evaluation({ command: ['python3', '-c', script], ...extra });
}

async function text(key: string | null | undefined): Promise<string> {
  if (key === null || key === undefined) throw new Error('no key');
  return (await store.getBytes(key)).toString('utf8');
}

/** Whether the main container of `pod` runs, as the API server says now. */
async function mainRuns(pod: string): Promise<boolean> {
  const read = await kube.core.readNamespacedPod({ name: pod, namespace });
  return (
    read.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running !== undefined) ?? false
  );
}

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue });
  ({ client, kube, store } = harness);
}, 180_000);

afterAll(async () => {
  await harness?.close();
  await kube?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
}, 60_000);

describe('log capture on the real stack', () => {
  it('200,000 lines alternating stdout/stderr as fast as possible: every line stored once, in order', async () => {
    const started = await client.start(manifest(numberedLines(200_000)), { idempotencyKey: newId('fast') });
    const record = await client.result(started.evaluationId);
    expect(record.outcome).toBe('Succeeded');
    await expectAllLines(store, record, 200_000);
  }, 300_000);

  it('a chained Python traceback becomes one event on stderr', async () => {
    const started = await client.start(manifest(chainedTracebackScript), { idempotencyKey: newId('tb') });
    const record = await client.result(started.evaluationId);
    expect([record.outcome, record.reason]).toEqual(['Failed', 'Error']);
    const events = (await text(record.attempts[0]?.logs?.events))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as LogEvent);
    const tracebacks = events.filter((e) => e.kind === 'traceback');
    expect(tracebacks).toHaveLength(1);
    const tb = tracebacks[0]!;
    expect(tb.stream).toBe('stderr');
    expect(tb.text).toMatch(/^Traceback \(most recent call last\):/);
    expect(tb.text).toContain('The above exception was the direct cause of the following exception:');
    expect(tb.text).toMatch(/RuntimeError: cannot load the model$/);
    expect(tb.lines).toBe(tb.text.split('\n').length);
    expect(tb.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(events.filter((e) => e.stream === 'stderr')).toHaveLength(1);
    expect(events.find((e) => e.stream === 'stdout')?.text).toBe('loading');
  }, 120_000);
});

/** Waits until the evaluation's main container runs; returns the pod name. */
async function runningPod(evaluationId: string): Promise<string> {
  return eventually(
    `evaluation ${evaluationId} running`,
    async () => {
      const pods = await kube.core.listNamespacedPod({
        namespace,
        labelSelector: `${labelKeys.evaluationId}=${evaluationId}`,
      });
      const pod = pods.items.find((p) =>
        p.status?.containerStatuses?.some((c) => c.name === 'main' && c.state?.running !== undefined),
      );
      return pod?.metadata?.name;
    },
    90_000,
  );
}

describe('log capture under failure', () => {
  it('the pod deleted from outside mid-run: the lines it printed before are kept', async () => {
    const script =
      'import sys, time\nfor i in range(1000): print("line %d" % i)\nsys.stdout.flush()\ntime.sleep(600)';
    const started = await client.start(manifest(script), { idempotencyKey: newId('del') });
    const pod = await runningPod(started.evaluationId);
    // Delete it once it has printed all 1000 lines, as the API server shows its log.
    await waitFor(
      async () =>
        (await kube.core.readNamespacedPodLog({ name: pod, namespace, container: 'main' })).includes(
          'line 999\n',
        ),
      { timeoutMs: 60_000, what: `the log of ${pod} to hold line 999` },
    );
    await kube.core.deleteNamespacedPod({ name: pod, namespace });
    const record = await client.result(started.evaluationId);
    expect(record.attempts[0]?.reason).toBe('PodDeleted');
    const expected = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join('');
    expect(await text(record.attempts[0]?.logs?.stdout)).toBe(expected);
  }, 180_000);
});

describe('live follow', () => {
  it('shows the whole log once, in order, from the running pod and then from storage', async () => {
    const script = [
      'import sys, time',
      'time.sleep(3)',
      'print("first", flush=True)',
      'for i in range(2000): print("n %d" % i)',
      'sys.stdout.flush()',
      'time.sleep(1)',
      'print("last", flush=True)',
    ].join('\n');
    const started = await client.start(manifest(script), { idempotencyKey: newId('follow') });
    let output = '';
    await followLogs({
      status: () => client.status(started.evaluationId),
      store,
      kube,
      stdout: { write: (chunk) => void (output += Buffer.from(chunk).toString()) },
      stderr: { write: () => undefined },
      pollMs: 100,
    });
    const expected = ['first', ...Array.from({ length: 2000 }, (_, i) => `n ${i}`), 'last'];
    expect(output.split('\n').slice(0, -1)).toEqual(expected);
  }, 120_000);
});

describe('a worker killed with SIGKILL twice during the capture', () => {
  const workerProcesses = createWorkerProcesses();
  const crashQueue = `assay-logs-crash-${runTag}`;

  afterAll(() => workerProcesses.killAll());

  it('every line is stored exactly once, in order', async () => {
    const crashClient = new AssayClient(client.temporal, { taskQueue: crashQueue });
    const first = await workerProcesses.start(crashQueue);
    const started = await crashClient.start(manifest(numberedLines(200_000, 2500)), {
      idempotencyKey: newId('kill'),
    });
    const id = started.evaluationId;
    const pod = await runningPod(id);
    // First kill: once the capture has stored a part (it runs, mid-stream).
    const partsAtFirstKill = await waitFor(async () => (await storedLogParts(store, id)) || undefined, {
      timeoutMs: 120_000,
      what: `a stored log part of ${id}`,
      intervalMs: 500,
    });
    expect(await mainRuns(pod)).toBe(true);
    await workerProcesses.kill(first);
    const second = await workerProcesses.start(crashQueue);
    // Second kill: once the capture's next try runs on the new worker (after the heartbeat timeout) and has
    // stored more since the first kill (it resumed).
    await waitFor(
      async () => {
        const capture = await pendingCapture(client.temporal, id);
        return capture !== undefined && capture.attempt >= 2 && capture.started;
      },
      { timeoutMs: 120_000, what: `the log capture of ${id} retried on the new worker`, intervalMs: 500 },
    );
    await waitFor(async () => (await storedLogParts(store, id)) > partsAtFirstKill, {
      timeoutMs: 120_000,
      what: `the resumed capture of ${id} to store another part`,
      intervalMs: 500,
    });
    expect(await mainRuns(pod)).toBe(true);
    await workerProcesses.kill(second);
    await workerProcesses.start(crashQueue);
    const record = await crashClient.result(id);
    expect(record.outcome).toBe('Succeeded');
    await expectAllLines(store, record, 200_000);
  }, 300_000);
});
