/**
 * Log capture on the real local stack (issue 5): real pods print, real workers capture into the real S3 server.
 * Every stored line is checked: exactly once, in order per stream. The S3 server is stopped for 30 s during one
 * capture (and restarted in `finally`); worker child processes are killed with SIGKILL during another.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import type { KubeClients } from '../../src/kube/clients.js';
import { followLogs } from '../../src/client/follow.js';
import type { LogEvent } from '../../src/logs/events.js';
import type { EvaluationRecord } from '../../src/spec/record.js';
import { labelKeys } from '../../src/spec/kube-labels.js';
import { S3Component } from '../../src/stack/s3/component.js';
import { createStackContext } from '../../src/stack/index.js';
import type { S3ObjectStore } from '../../src/storage/index.js';
import {
  createWorkerProcesses,
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
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

/**
 * A script printing `total` numbered lines alternating stdout/stderr, each padded to about 100 bytes; `perSecond`
 * paces it (0: as fast as it can). Writes go straight to the file descriptors, one line per write.
 */
function numberedLines(total: number, perSecond = 0): string {
  return [
    'import os, time',
    `total, rate = ${total}, ${perSecond}`,
    'pad = b"x" * 84',
    't0 = time.time()',
    'for i in range(total):',
    '    fd = 1 if i % 2 == 0 else 2',
    '    os.write(fd, b"%s %07d %s\\n" % (b"out" if fd == 1 else b"err", i, pad))',
    '    if rate and i % 1000 == 999:',
    '        ahead = (i + 1) / rate - (time.time() - t0)',
    '        if ahead > 0: time.sleep(ahead)',
  ].join('\n');
}

async function text(key: string | null | undefined): Promise<string> {
  if (key === null || key === undefined) throw new Error('no key');
  return (await store.getBytes(key)).toString('utf8');
}

/** Every line exactly once and in order, per stream. */
async function expectAllLines(record: EvaluationRecord, total: number): Promise<void> {
  const logs = record.attempts[0]?.logs;
  expect(logs?.split).toBe(true);
  const pad = 'x'.repeat(84);
  for (const [stream, parity, prefix] of [
    [logs!.stdout, 0, 'out'],
    [logs!.stderr, 1, 'err'],
  ] as const) {
    const lines = (await text(stream)).split('\n');
    expect(lines.pop()).toBe('');
    const expected = Math.ceil((total - parity) / 2);
    const wrong: string[] = [];
    for (let k = 0; k < Math.max(lines.length, expected); k++) {
      const want = `${prefix} ${String(2 * k + parity).padStart(7, '0')} ${pad}`;
      if (lines[k] !== want && wrong.length < 5) wrong.push(`line ${k}: ${lines[k]?.slice(0, 20)}`);
    }
    expect({ stream: prefix, count: lines.length, wrong }).toEqual({
      stream: prefix,
      count: expected,
      wrong: [],
    });
  }
  const events = (await text(logs!.events)).split('\n').filter((l) => l !== '');
  expect(events).toHaveLength(total);
  expect(logs!.lines).toBe(total);
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
    await expectAllLines(record, 200_000);
  }, 300_000);

  it('a chained Python traceback becomes one event on stderr', async () => {
    const script = [
      'import sys',
      'print("loading", flush=True)',
      'def load():',
      '    return {}["model"]',
      'try:',
      '    load()',
      'except KeyError as e:',
      '    raise RuntimeError("cannot load the model") from e',
    ].join('\n');
    const started = await client.start(manifest(script), { idempotencyKey: newId('tb') });
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
  it('the S3 server stopped for 30 s during the capture: nothing lost', async () => {
    const started = await client.start(manifest(numberedLines(200_000, 4000)), {
      idempotencyKey: newId('s3'),
    });
    await runningPod(started.evaluationId);
    await sleep(5000);
    const s3 = new S3Component();
    const ctx = createStackContext({ reporter: { info: () => undefined, warn: () => undefined } });
    try {
      await s3.down(ctx);
      await sleep(30_000);
    } finally {
      await s3.up(ctx);
    }
    const record = await client.result(started.evaluationId);
    expect(record.outcome).toBe('Succeeded');
    await expectAllLines(record, 200_000);
  }, 300_000);

  it('the pod deleted from outside mid-run: the lines it printed before are kept', async () => {
    const script =
      'import sys, time\nfor i in range(1000): print("line %d" % i)\nsys.stdout.flush()\ntime.sleep(600)';
    const started = await client.start(manifest(script), { idempotencyKey: newId('del') });
    const pod = await runningPod(started.evaluationId);
    await sleep(3000);
    await kube.core.deleteNamespacedPod({ name: pod, namespace });
    const record = await client.result(started.evaluationId);
    expect(record.attempts[0]?.reason).toBe('PodDeleted');
    const expected = Array.from({ length: 1000 }, (_, i) => `line ${i}\n`).join('');
    expect(await text(record.attempts[0]?.logs?.stdout)).toBe(expected);
  }, 180_000);
});

describe('live follow', () => {
  it('shows the first line within a second of its printing, and the whole log once', async () => {
    const script = [
      'import sys, time',
      'time.sleep(3)',
      'print("first %.6f" % time.time(), flush=True)',
      'for i in range(2000): print("n %d" % i)',
      'sys.stdout.flush()',
      'time.sleep(1)',
      'print("last", flush=True)',
    ].join('\n');
    const started = await client.start(manifest(script), { idempotencyKey: newId('follow') });
    let output = '';
    let firstArrival: number | null = null;
    await followLogs({
      status: () => client.status(started.evaluationId),
      store,
      kube,
      stdout: {
        write: (chunk) => {
          firstArrival ??= Date.now() / 1000;
          output += Buffer.from(chunk).toString();
        },
      },
      stderr: { write: () => undefined },
      pollMs: 100,
    });
    const printed = Number(/^first (\d+\.\d+)\n/.exec(output)?.[1]);
    expect(firstArrival! - printed).toBeLessThanOrEqual(1);
    const expected = ['first', ...Array.from({ length: 2000 }, (_, i) => `n ${i}`), 'last'];
    expect(
      output
        .split('\n')
        .slice(0, -1)
        .map((l) => l.replace(/^first .*/, 'first')),
    ).toEqual(expected);
  }, 120_000);
});

describe('a worker killed with SIGKILL twice during the capture', () => {
  const workerProcesses = createWorkerProcesses();
  const crashQueue = `assay-logs-crash-${runTag}`;

  afterAll(() => workerProcesses.killAll());

  it('every line is stored exactly once, in order', async () => {
    const crashClient = new AssayClient(client.temporal, { taskQueue: crashQueue });
    const first = await workerProcesses.start(crashQueue);
    const started = await crashClient.start(manifest(numberedLines(200_000, 3000)), {
      idempotencyKey: newId('kill'),
    });
    await runningPod(started.evaluationId);
    await sleep(6000);
    await workerProcesses.kill(first);
    const second = await workerProcesses.start(crashQueue);
    // Past the capture's heartbeat timeout, the retry runs on the new worker and resumes; kill that one too.
    await sleep(18_000);
    await workerProcesses.kill(second);
    await workerProcesses.start(crashQueue);
    const record = await crashClient.result(started.evaluationId);
    expect(record.outcome).toBe('Succeeded');
    await expectAllLines(record, 200_000);
  }, 300_000);
});
