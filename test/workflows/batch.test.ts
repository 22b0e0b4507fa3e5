/**
 * The batch workflow's decisions on the real Temporal dev server with stub child evaluations (each test on its own
 * task queue): the sliding window, continue-as-new carrying the counters, fail-fast, re-runs of failed entries,
 * cancellation, and a bounded history with 2,000 children that end at once.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { ulid } from 'ulid';
import { parseEvaluationBatch } from '../../src/spec/evaluation-batch.js';
import type { BatchInput, BatchResult, WriteBatchSummaryInput } from '../../src/spec/evaluation-batch-run.js';
import { connectWorkflowTier, type WorkflowTier } from '../support/temporal.js';
import { maxOverlap } from '../support/intervals.js';

let tier: WorkflowTier;
let client: Client;

beforeAll(async () => {
  tier = await connectWorkflowTier({
    workflowsPath: fileURLToPath(new URL('./fixtures/batch-stub-workflows.ts', import.meta.url)),
  });
  client = tier.client;
}, 120_000);

afterAll(async () => {
  await tier?.close();
});

function input(
  id: string,
  env: Record<string, string>,
  spec: Record<string, unknown>,
  childrenPerRun?: number,
): BatchInput {
  const parsed = parseEvaluationBatch({
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationBatch',
    metadata: { name: id },
    spec: {
      template: {
        spec: {
          team: 'ml',
          user: 'ada',
          image: 'localhost/assay/busybox:test',
          env: [
            ...Object.entries(env).map(([name, value]) => ({ name, value })),
            { name: 'N', value: '${{ matrix.n }}' },
          ],
        },
      },
      ...spec,
    },
  });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.issues));
  return {
    batchId: id,
    batch: parsed.value.batch,
    schedule: null,
    submittedAt: new Date().toISOString(),
    ...(childrenPerRun !== undefined ? { childrenPerRun } : {}),
  };
}

interface Run {
  result: BatchResult;
  summaries: WriteBatchSummaryInput[];
  /** Start and close times of every child execution. */
  children: { id: string; start: number; close: number }[];
  /** History length of every run of the batch workflow, oldest first. */
  runLengths: number[];
}

async function runBatch(
  batchInput: BatchInput,
  options: { onStarted?: (workflowId: string) => Promise<void>; listChildren?: boolean } = {},
): Promise<Run> {
  const taskQueue = `test-batch-${ulid().toLowerCase()}`;
  const summaries: WriteBatchSummaryInput[] = [];
  const worker = await Worker.create({
    connection: tier.workerConnection,
    namespace: client.options.namespace,
    taskQueue,
    workflowBundle: tier.bundle,
    maxCachedWorkflows: 2000,
    activities: {
      writeBatchSummary(i: WriteBatchSummaryInput) {
        summaries.push(i);
        return Promise.resolve({
          summaryKey: `batches/${i.batchId}/summary.json`,
          csvKey: `batches/${i.batchId}/summary.csv`,
          counts: { succeeded: 0, failed: 0, cancelled: 0 },
        });
      },
    },
  });
  const workflowId = `batch-${batchInput.batchId}`;
  return await worker.runUntil(async () => {
    const handle = await client.workflow.start('batch', { taskQueue, workflowId, args: [batchInput] });
    if (options.onStarted) await options.onStarted(workflowId);
    const result = (await handle.result()) as BatchResult;
    const runLengths: number[] = [];
    for await (const info of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) {
      runLengths.push(info.historyLength);
    }
    const children: Run['children'] = [];
    if (options.listChildren !== false) {
      for await (const info of client.workflow.list({
        query: `TaskQueue = '${taskQueue}' AND WorkflowType = 'evaluation'`,
      })) {
        children.push({
          id: info.workflowId,
          start: info.startTime.getTime(),
          close: info.closeTime?.getTime() ?? Infinity,
        });
      }
    }
    return { result, summaries, children, runLengths: runLengths.reverse() };
  });
}

function id(): string {
  return `wb${ulid().toLowerCase().slice(-10)}`;
}

describe('batch workflow', () => {
  it('keeps at most maxConcurrent children running and continues as new with its counters', async () => {
    const b = id();
    const run = await runBatch(
      input(
        b,
        { STUB_SLEEP_MS: '700' },
        { matrix: { n: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9] }, maxConcurrent: 3 },
        4,
      ),
    );
    expect(run.result).toMatchObject({
      outcome: 'Succeeded',
      total: 10,
      notStarted: 0,
      counts: { succeeded: 10, failed: 0, cancelled: 0 },
    });
    expect(run.children.map((c) => c.id).sort()).toEqual(
      Array.from({ length: 10 }, (_, i) => `eval-${b}-${i}`).sort(),
    );
    expect(maxOverlap(run.children)).toBe(3);
    // 10 children, 4 per run: three runs, the summary written once by the last.
    expect(run.runLengths).toHaveLength(3);
    expect(run.summaries).toEqual([
      expect.objectContaining({ batchId: b, started: 10, outcome: 'Succeeded', retries: [] }),
    ]);
  }, 120_000);

  it('fail-fast: the first failure cancels the running children and starts nothing more', async () => {
    const b = id();
    const batchInput = input(
      b,
      { STUB_SLEEP_MS: '${{ matrix.sleep }}', STUB_OUTCOME: '${{ matrix.outcome }}' },
      {
        entries: [
          { n: 0, sleep: 5000, outcome: 'Succeeded' },
          { n: 1, sleep: 200, outcome: 'Failed' },
          { n: 2, sleep: 5000, outcome: 'Succeeded' },
          { n: 3, sleep: 0, outcome: 'Succeeded' },
        ],
        maxConcurrent: 2,
        failFast: true,
      },
    );
    const run = await runBatch(batchInput);
    expect(run.result).toMatchObject({
      outcome: 'Failed',
      counts: { succeeded: 0, failed: 1, cancelled: 1 },
      notStarted: 2,
    });
    expect(run.children.map((c) => c.id).sort()).toEqual([`eval-${b}-0`, `eval-${b}-1`]);
  }, 60_000);

  it('re-runs a failed entry as <id>-r<n> and summarises its latest run', async () => {
    const b = id();
    const run = await runBatch(
      input(
        b,
        { STUB_SUCCEED_FROM_RERUN: '${{ matrix.from }}' },
        {
          entries: [
            { n: 0, from: 0 },
            { n: 1, from: 2 },
            { n: 2, from: 9 },
          ],
          maxConcurrent: 3,
          retryFailed: 2,
        },
      ),
    );
    expect(run.result).toMatchObject({
      outcome: 'Failed',
      counts: { succeeded: 2, failed: 1, cancelled: 0 },
    });
    expect(run.children.map((c) => c.id).sort()).toEqual(
      [
        `eval-${b}-0`,
        `eval-${b}-1`,
        `eval-${b}-1-r1`,
        `eval-${b}-1-r2`,
        `eval-${b}-2`,
        `eval-${b}-2-r1`,
        `eval-${b}-2-r2`,
      ].sort(),
    );
    expect(run.summaries[0]!.retries.sort()).toEqual([
      [1, 2],
      [2, 2],
    ]);
  }, 60_000);

  it('cancelling the batch cancels its running children and still writes the summary', async () => {
    const b = id();
    const run = await runBatch(
      input(b, { STUB_SLEEP_MS: '60000' }, { matrix: { n: [0, 1, 2, 3, 4] }, maxConcurrent: 2 }),
      {
        onStarted: async (workflowId) => {
          const handle = client.workflow.getHandle(workflowId);
          for (;;) {
            const p = await handle.query<{ running: number }>('progress');
            if (p.running === 2) break;
            await new Promise((r) => setTimeout(r, 100));
          }
          await handle.cancel();
        },
      },
    );
    expect(run.result).toMatchObject({
      outcome: 'Cancelled',
      counts: { succeeded: 0, failed: 0, cancelled: 2 },
      notStarted: 3,
    });
    const statuses = await Promise.all(
      [0, 1].map(async (i) => (await client.workflow.getHandle(`eval-${b}-${i}`).describe()).status.name),
    );
    expect(statuses).toEqual(['CANCELLED', 'CANCELLED']);
  }, 60_000);

  // 2,000 stub children take about half an hour on a busy 2-core machine, far beyond the suite's budget: by default
  // the same shape runs with 200 (four runs of 50); ASSAY_BATCH_HISTORY_CHILDREN=2000 runs the full figure
  // (docs/batches.md, "History").
  const children = Number(process.env.ASSAY_BATCH_HISTORY_CHILDREN ?? '200');
  const perRun = children >= 2000 ? undefined : Math.ceil(children / 4);
  it(
    `${children} children ending together: every run of the batch keeps a bounded history`,
    async () => {
      const b = id();
      const started = Date.now();
      const run = await runBatch(
        input(
          b,
          { STUB_SLEEP_MS: '3000' },
          { matrix: { n: Array.from({ length: children }, (_, i) => i) }, maxConcurrent: 1000 },
          perRun,
        ),
        { listChildren: false },
      );
      expect(run.result).toMatchObject({
        outcome: 'Succeeded',
        total: children,
        counts: { succeeded: children, failed: 0, cancelled: 0 },
      });
      process.stderr.write(
        `batch of ${children} children: ${run.runLengths.length} runs, history lengths ${run.runLengths.join(', ')} ` +
          `events (max ${Math.max(...run.runLengths)}), ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
      );
      expect(run.runLengths).toHaveLength(4);
      // Three events per child plus at most one workflow task (three events) per completion, and a few more.
      for (const length of run.runLengths) expect(length).toBeLessThanOrEqual(6 * (perRun ?? 500) + 50);
    },
    Math.max(300_000, children * 1500),
  );
});
