/**
 * Batches on the real stack: a 3 × 4 matrix with `maxConcurrent: 4` runs 12 evaluations and never more than 4 main
 * containers at once (as a pod watch of the API server sees it, not as the batch's bookkeeping says), and its summary
 * CSV holds 12 rows with the results flattened; fail-fast stops the rest after the first failure; cancelling a
 * running batch cancels its evaluations.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { BatchClient } from '../../src/client/batch-client.js';
import type { KubeClients } from '../../src/kube/clients.js';
import type { S3ObjectStore } from '../../src/storage/index.js';
import { startEvaluationHarness, type EvaluationHarness } from '../support/evaluation-harness.js';
import { watchRunningPods } from '../support/pod-watch.js';
import { waitFor } from '../support/wait-for.js';
import { BUSYBOX } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `batch-${runTag}`;
const namespace = `assay-${team}`;

let harness: EvaluationHarness;
let batches: BatchClient;
let kube: KubeClients;
let store: S3ObjectStore;

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue: `assay-batch-${runTag}` });
  ({ kube, store } = harness);
  batches = new BatchClient(harness.client.temporal, harness.client.taskQueue);
}, 180_000);

afterAll(async () => {
  await harness?.close();
  await kube?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

function batchManifest(
  name: string,
  command: string,
  spec: Record<string, unknown>,
  variables: string[] = [],
): unknown {
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationBatch',
    metadata: { name },
    spec: {
      template: {
        metadata: { labels: { 'test-batch': name } },
        spec: {
          team,
          user: 'ada',
          image: BUSYBOX,
          command: ['sh', '-c', command],
          env: variables.map((v) => ({ name: v.toUpperCase(), value: `\${{ matrix.${v} }}` })),
          resources: { cpu: '10m', memory: '16Mi', ephemeralStorage: '16Mi' },
          retries: { maxAttempts: 1, backoffSeconds: 1 },
          timeoutSeconds: 600,
        },
      },
      ...spec,
    },
  };
}

function parseCsv(text: string): string[][] {
  // The cells written here hold no quotes, commas or newlines.
  return text
    .trimEnd()
    .split('\n')
    .map((line) => line.split(','));
}

describe('batches on the real stack', () => {
  it.concurrent(
    'a 3 × 4 matrix with maxConcurrent 4: 12 evaluations, never more than 4 running, a 12-row CSV with flattened results',
    async () => {
      const name = `mx${runTag}`;
      const watch = await watchRunningPods(kube, { labelSelector: `test-batch=${name}` });
      try {
        const started = await batches.start(
          batchManifest(
            name,
            'sleep 3; printf \'{"model":"%s","metrics":{"score":%s}}\' "$MODEL" "$SCORE" > /dev/termination-log',
            { matrix: { model: ['m1', 'm2', 'm3'], score: [1, 2, 3, 4] }, maxConcurrent: 4 },
            ['model', 'score'],
          ),
        );
        expect(started).toMatchObject({ batchId: name, size: 12, existing: false });
        const result = await batches.result(name);
        expect(result).toMatchObject({
          outcome: 'Succeeded',
          total: 12,
          counts: { succeeded: 12, failed: 0 },
        });
        expect(watch.gaps()).toEqual([]);
        expect(watch.pods()).toBe(12);
        expect(watch.maxRunning()).toBeLessThanOrEqual(4);
        expect(watch.maxRunning()).toBeGreaterThanOrEqual(2);
        const csv = parseCsv((await store.getBytes(result.csvKey)).toString('utf8'));
        expect(csv[0]).toEqual([
          'index',
          'evaluationId',
          'matrix.model',
          'matrix.score',
          'outcome',
          'exitCode',
          'durationSeconds',
          'cost',
          'result.model',
          'result.metrics.score',
        ]);
        expect(csv).toHaveLength(13);
        for (let i = 0; i < 12; i++) {
          const model = `m${Math.floor(i / 4) + 1}`;
          const score = String((i % 4) + 1);
          expect(csv[i + 1]).toEqual([
            String(i),
            `${name}-${i}`,
            model,
            score,
            'Succeeded',
            '0',
            expect.any(String),
            // Each evaluation's cost total (USD) from its record: small, but priced.
            expect.stringMatching(/^\d+(\.\d+)?(e-\d+)?$/),
            model,
            score,
          ]);
        }
      } finally {
        watch.stop();
      }
    },
    300_000,
  );

  it.concurrent(
    'failFast: the first failure cancels the running evaluations and starts nothing more',
    async () => {
      const name = `ff${runTag}`;
      await batches.start(
        batchManifest(
          name,
          'sleep "$SLEEP"; exit "$CODE"',
          {
            entries: [
              { sleep: 1, code: 3 },
              { sleep: 600, code: 0 },
              { sleep: 600, code: 0 },
              { sleep: 0, code: 0 },
            ],
            maxConcurrent: 2,
            failFast: true,
          },
          ['sleep', 'code'],
        ),
      );
      const result = await batches.result(name);
      expect(result).toMatchObject({
        outcome: 'Failed',
        counts: { succeeded: 0, failed: 1, cancelled: 1 },
        notStarted: 2,
      });
      const summary = await batches.summary(store, result);
      expect(summary.evaluations.map((e) => [e.evaluationId, e.outcome, e.exitCode])).toEqual([
        [`${name}-0`, 'Failed', 3],
        [`${name}-1`, 'Cancelled', null],
      ]);
    },
    300_000,
  );

  it.concurrent(
    'cancelling a running batch cancels its evaluations',
    async () => {
      const name = `cx${runTag}`;
      const watch = await watchRunningPods(kube, { labelSelector: `test-batch=${name}` });
      try {
        await batches.start(
          batchManifest(name, 'sleep 300', { matrix: { n: [1, 2, 3, 4] }, maxConcurrent: 2 }),
        );
        await waitFor(() => (watch.running() === 2 ? true : undefined), {
          timeoutMs: 180_000,
          what: 'two evaluations of the batch running',
          intervalMs: 200,
        });
        await batches.cancel(name);
        const result = await batches.result(name);
        expect(result).toMatchObject({ outcome: 'Cancelled', counts: { cancelled: 2 }, notStarted: 2 });
        for (const i of [0, 1]) {
          const record = await harness.client.result(`${name}-${i}`);
          expect(record.outcome).toBe('Cancelled');
        }
        await waitFor(() => (watch.running() === 0 ? true : undefined), {
          timeoutMs: 60_000,
          what: 'no main container of the batch running',
          intervalMs: 200,
        });
        expect(watch.pods()).toBe(2);
      } finally {
        watch.stop();
      }
    },
    300_000,
  );
});
