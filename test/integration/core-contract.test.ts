/**
 * The core's contract on the real stack: exact timeouts (the main container is stopped within 2 s of
 * `timeoutSeconds` after it started, nothing it prints afterwards is kept, and the record carries the killed
 * container's exit code), idempotency keys compared by spec, and the history economy of a one-attempt evaluation.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { temporal } from '@temporalio/proto';
import { ulid } from 'ulid';
import { EvaluationConflictError, type AssayClient } from '../../src/client/assay-client.js';
import { labelKeys } from '../../src/spec/kube-labels.js';
import { evaluationWorkflowId } from '../../src/spec/names.js';
import type { S3ObjectStore } from '../../src/storage/index.js';
import type { KubeClients } from '../../src/kube/clients.js';
import {
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import { runAssay, type CommandRun } from '../support/cli.js';
import { BUSYBOX } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `core-${runTag}`;
const namespace = `assay-${team}`;

let harness: EvaluationHarness;
let client: AssayClient;
let kube: KubeClients;
let store: S3ObjectStore;

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    resources: { cpu: '50m', memory: '32Mi', ephemeralStorage: '32Mi' },
    retries: { maxAttempts: 1, backoffSeconds: 1 },
  },
});

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue: `assay-core-${runTag}` });
  ({ client, kube, store } = harness);
}, 180_000);

afterAll(async () => {
  await harness?.close();
  await kube?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

describe('exact timeouts', () => {
  it.each([1, 3])(
    'timeoutSeconds: %i on a 10 s command stops it within 2 s of the deadline and keeps nothing after it',
    async (timeoutSeconds) => {
      const id = newId(`timeout-${timeoutSeconds}`);
      await client.start(
        manifest({ command: ['sh', '-c', 'echo before; sleep 10; echo after'], timeoutSeconds }),
        { idempotencyKey: id },
      );
      const record = await client.result(id);
      expect(record).toMatchObject({ outcome: 'TimedOut', reason: 'DeadlineExceeded' });
      // The killed container's code (SIGKILL 137 or SIGTERM 143), never a clean 0.
      expect([137, 143]).toContain(record.exitCode);
      const attempt = record.attempts[0]!;
      const ranMs = Date.parse(attempt.finishedAt!) - Date.parse(attempt.startedAt!);
      // Within 2 s of the deadline; both timestamps have one-second precision (a second either way).
      expect(ranMs).toBeGreaterThanOrEqual((timeoutSeconds - 1) * 1000);
      expect(ranMs).toBeLessThanOrEqual((timeoutSeconds + 2) * 1000);
      const stdout = (await store.getBytes(attempt.logs!.stdout!)).toString();
      expect(stdout).toContain('before');
      expect(stdout).not.toContain('after');
    },
    120_000,
  );
});

describe('idempotency keys', () => {
  it('the same key and spec returns the existing evaluation; another spec is refused and starts nothing', async () => {
    const id = newId('idem');
    const spec = manifest({ command: ['sh', '-c', 'echo one'], timeoutSeconds: 60 });
    const first = await client.start(spec, { idempotencyKey: id });
    expect(first.existing).toBe(false);
    await client.result(id);

    const again = await client.start(spec, { idempotencyKey: id });
    expect(again).toMatchObject({ evaluationId: id, existing: true });
    expect(again.existingEvaluation).toMatchObject({ status: 'COMPLETED', outcome: 'Succeeded' });

    const changed = manifest({ command: ['sh', '-c', 'echo two'], timeoutSeconds: 60 });
    const refused = await client.start(changed, { idempotencyKey: id }).catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(EvaluationConflictError);
    expect((refused as Error).message).toMatch(
      new RegExp(`evaluation ${id} already exists with a different spec`),
    );
    expect((refused as Error).message).toMatch(/Succeeded \d+ s ago/);

    // Nothing new ran: one execution of the id, one Job of the evaluation in the cluster.
    const runs = [];
    for await (const run of client.temporal.workflow.list({
      query: `WorkflowId = '${evaluationWorkflowId(id)}'`,
    })) {
      runs.push(run.runId);
    }
    expect(runs).toHaveLength(1);
    const record = await client.result(id);
    expect(record.spec).toMatchObject({ spec: { command: ['sh', '-c', 'echo one'] } });
  }, 120_000);

  it('a running evaluation is returned to a retried start with the same spec', async () => {
    const id = newId('idem-run');
    const spec = manifest({ command: ['sleep', '5'], timeoutSeconds: 60 });
    await client.start(spec, { idempotencyKey: id });
    const again = await client.start(spec, { idempotencyKey: id });
    expect(again.existing).toBe(true);
    expect(again.existingEvaluation?.status).toBe('RUNNING');
    expect((await client.result(id)).outcome).toBe('Succeeded');
    const jobs = await kube.batch.listNamespacedJob({
      namespace,
      labelSelector: `${labelKeys.evaluationId}=${id}`,
    });
    // Cleanup deletes the Job; what is left can only be ours, and never a second one.
    expect(jobs.items.length).toBeLessThanOrEqual(1);
  }, 120_000);
});

/** Runs the real CLI against the harness's task queue. */
const cli = (args: string[]): Promise<CommandRun> =>
  runAssay(args, { ASSAY_TASK_QUEUE: `assay-core-${runTag}` });

describe('idempotency keys in the CLI', () => {
  it('assay run says an id exists on stderr, and refuses a changed spec with exit 2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'assay-core-'));
    try {
      const id = newId('cli-idem');
      const file = join(dir, 'e.json');
      await writeFile(
        file,
        JSON.stringify(manifest({ command: ['sh', '-c', 'echo a'], timeoutSeconds: 60 })),
      );
      const first = await cli(['run', '-f', file, '--id', id, '--wait', '-o', 'json']);
      expect(first.code).toBe(0);
      const again = await cli(['run', '-f', file, '--id', id]);
      expect(again.code).toBe(0);
      expect(again.stderr).toMatch(new RegExp(`evaluation ${id} already exists \\(Succeeded \\d+ s ago\\)`));
      await writeFile(
        file,
        JSON.stringify(manifest({ command: ['sh', '-c', 'echo b'], timeoutSeconds: 60 })),
      );
      const changed = await cli(['run', '-f', file, '--id', id]);
      expect(changed.code).toBe(2);
      expect(changed.stderr).toContain(`evaluation ${id} already exists with a different spec`);
      expect(changed.stderr).toContain('give it another id');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('history economy', () => {
  it('a one-attempt evaluation with logs and no outputs stays within 40 history events, the spec in one', async () => {
    const id = newId('events');
    await client.start(
      {
        ...manifest({ command: ['sh', '-c', 'echo out; echo err >&2'], timeoutSeconds: 60 }),
        metadata: { labels: { marker: `m-${runTag}` } },
      },
      { idempotencyKey: id },
    );
    const record = await client.result(id);
    expect(record.outcome).toBe('Succeeded');
    expect(record.attempts[0]?.logs?.stdout).toBeTruthy();
    const history = await client.temporal.workflow.getHandle(evaluationWorkflowId(id)).fetchHistory();
    const events = history.events ?? [];
    expect(events.length).toBeLessThanOrEqual(40);
    // The manifest is in the input only (the Job request carries the workload and its labels, not the manifest).
    const carrying = events.filter((e) =>
      Buffer.from(temporal.api.history.v1.HistoryEvent.encode(e).finish()).includes(
        '"apiVersion":"assay.dev/v1"',
      ),
    );
    expect(carrying).toHaveLength(1);
    // The stored record holds the spec all the same.
    const stored = JSON.parse((await store.getBytes(record.recordKey)).toString()) as { spec: unknown };
    expect(stored.spec).toMatchObject({ metadata: { labels: { marker: `m-${runTag}` } } });
  }, 120_000);
});
