/**
 * Log capture through an outage of the object store, on the real stack: the S3 server is stopped for 30 s while a
 * capture is under way, then started again, and every line must still be stored exactly once.
 *
 * This stops a server every stack-backed suite shares, so it must never run beside another suite: the pragma below
 * makes the stack-backed tiers' environment (test/support/stack-environment.ts) hold the stack lock exclusively
 * while this file runs, waiting for the running suites to finish and holding the next ones back.
 *
 * @assay-stack exclusive
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { S3Component } from '../../src/stack/s3/component.js';
import { createStackContext } from '../../src/stack/index.js';
import { observeEvaluation } from '../support/cluster-observer.js';
import {
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import { expectAllLines, numberedLines, storedLogParts } from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';
import { PYTHON } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `s3out-${runTag}`;
const namespace = `assay-${team}`;
const outageMs = 30_000;

let harness: EvaluationHarness;

const manifest = manifestBuilder({
  team,
  defaults: {
    image: PYTHON,
    resources: { cpu: '500m', memory: '128Mi', ephemeralStorage: '512Mi' },
    timeoutSeconds: 600,
    retries: { maxAttempts: 1, backoffSeconds: 1 },
  },
});

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue: `assay-s3out-${runTag}` });
}, 180_000);

afterAll(async () => {
  await harness?.close();
  await harness?.kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
}, 60_000);

describe('log capture while the object store is away', () => {
  it('the S3 server stopped for 30 s during the capture: nothing lost', async () => {
    const { client, kube, store } = harness;
    const id = newId('s3');
    const observer = await observeEvaluation(kube, id);
    try {
      await client.start(manifest({ command: ['python3', '-c', numberedLines(200_000, 4000)] }), {
        idempotencyKey: id,
      });
      const pod = await observer.runningPod(1, 90_000);
      // Stop the store once the capture has stored a part: it is under way, with more to come.
      await waitFor(async () => (await storedLogParts(store, id)) > 0, {
        timeoutMs: 120_000,
        what: `a stored log part of ${id}`,
        intervalMs: 500,
      });
      const s3 = new S3Component();
      const ctx = createStackContext({ reporter: { info: () => undefined, warn: () => undefined } });
      try {
        await s3.down(ctx);
        // The outage itself, not a wait for something: the capture must ride out 30 s without the store.
        await sleep(outageMs);
        // The pod printed on through the outage: the capture had lines to hold back the whole time.
        expect(pod.mainRunning).toBe(true);
      } finally {
        await s3.up(ctx);
      }
      const record = await client.result(id);
      expect(record.outcome).toBe('Succeeded');
      await expectAllLines(store, record, 200_000);
    } finally {
      observer.stop();
    }
  }, 300_000);
});
