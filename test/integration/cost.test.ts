/**
 * Cost attribution on the real stack (docs/cost.md): evaluations with known requests and durations priced by the
 * formula, a node labelled spot priced at spot prices, a pod over its memory request priced at its usage, and a
 * retried evaluation with both attempts priced. Usage is sampled every second (the sampling interval is config).
 *
 * The spot case uses its own worker whose spot label is one only this test sets on the (shared) node, so evaluations
 * of other tests on that node at the same time are not priced as spot, and this test's other cases are not either.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { deliveryWorkflowId, webhookPayloadSchema } from '../../src/notifications/payload.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { evaluationWorkflowId } from '../../src/spec/names.js';
import { ledgerEntrySchema, ledgerKey, type EvaluationCost } from '../../src/spec/cost.js';
import type { EvaluationRecord } from '../../src/spec/record.js';
import {
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import { BUSYBOX, PYTHON } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `cost-${runTag}`;
const namespace = `assay-${team}`;
const spotKey = `assay.dev/test-spot-${runTag}`;
const gib = 1024 ** 3;

const prices = { cpuCoreHour: 3.6, memoryGiBHour: 0.36, ephemeralStorageGiBHour: 0.036 };
const spot = { cpuCoreHour: 0.9, memoryGiBHour: 0.09, discount: 0.5 };
const budgetTeam = `costb-${runTag}`;
/** So small that the team's first evaluation goes over it, and every later one finds it over already. */
const tinyBudget = 1e-9;
const costConfig = (spotLabels?: { key: string; values: string[] }[]) => ({
  sampleIntervalSeconds: 1,
  budgets: { [budgetTeam]: { monthly: tinyBudget } },
  clusters: {
    local: { version: `it-${runTag}`, ...prices, spot, ...(spotLabels !== undefined ? { spotLabels } : {}) },
  },
});

let onDemandHarness: EvaluationHarness;
let spotHarness: EvaluationHarness;
let receiver: WebhookReceiver;
let nodeName: string;
const ledgerKeys: string[] = [];

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    resources: { cpu: '500m', memory: '256Mi', ephemeralStorage: '64Mi' },
    timeoutSeconds: 120,
  },
});

beforeAll(async () => {
  [onDemandHarness, receiver, spotHarness] = await Promise.all([
    startEvaluationHarness({
      taskQueue: `assay-cost-${runTag}`,
      cost: costConfig(),
      notifications: { allow: ['localhost'], retrySchedule: [0, 0.5], timeoutSeconds: 5 },
    }),
    startWebhookReceiver(),
    startEvaluationHarness({
      taskQueue: `assay-cost-spot-${runTag}`,
      cost: costConfig([{ key: spotKey, values: ['true'] }]),
    }),
  ]);
  const nodes = await onDemandHarness.kube.core.listNode();
  nodeName = nodes.items[0]!.metadata!.name!;
  await labelNode({ [spotKey]: 'true' });
});

afterAll(async () => {
  await labelNode({ [spotKey]: null }).catch(() => undefined);
  const store = onDemandHarness?.store;
  for (const key of ledgerKeys) await store?.delete(key).catch(() => undefined);
  await onDemandHarness?.kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
  await onDemandHarness?.kube.core.deleteNamespace({ name: `assay-${budgetTeam}` }).catch(() => undefined);
  await receiver?.close();
  await Promise.all([onDemandHarness?.close(), spotHarness?.close()]);
});

async function labelNode(labels: Record<string, string | null>): Promise<void> {
  await onDemandHarness.kube.core.patchNode(
    { name: nodeName, body: { metadata: { labels } } },
    setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
  );
}

async function run(harness: EvaluationHarness, spec: Record<string, unknown>): Promise<EvaluationRecord> {
  const started = await harness.client.start(manifest(spec), { idempotencyKey: newId('cost') });
  const record = await harness.client.result(started.evaluationId);
  if (record.timings.finishedAt !== null)
    ledgerKeys.push(ledgerKey(record.timings.finishedAt, record.evaluationId));
  return record;
}

function wallHours(record: EvaluationRecord, attempt = 0): number {
  const a = record.attempts[attempt]!;
  return (Date.parse(a.finishedAt!) - Date.parse(a.startedAt!)) / 3_600_000;
}

function costOf(record: EvaluationRecord): EvaluationCost {
  expect(record.cost).not.toBeNull();
  return record.cost!;
}

/** The formula with the spec's requests: cores × h × price + GiB × h × price + storage GiB × h × price. */
function byRequests(
  hours: number,
  table: { cpuCoreHour: number; memoryGiBHour: number; ephemeralStorageGiBHour: number },
) {
  return (
    0.5 * hours * table.cpuCoreHour +
    0.25 * hours * table.memoryGiBHour +
    (64 / 1024) * hours * table.ephemeralStorageGiBHour
  );
}

describe('cost attribution', () => {
  it.concurrent(
    'prices known requests over a known duration by the formula, ledger and search attribute agree',
    async () => {
      const record = await run(onDemandHarness, { command: ['sh', '-c', 'sleep 6'] });
      expect(record.outcome).toBe('Succeeded');
      const hours = wallHours(record);
      // The container's start and end have one-second precision.
      expect(hours * 3600).toBeGreaterThanOrEqual(5);
      expect(hours * 3600).toBeLessThanOrEqual(8);
      const cost = costOf(record);
      const expected = byRequests(hours, prices);
      expect(Math.abs(cost.total - expected) / expected).toBeLessThan(0.01);
      expect(cost).toMatchObject({ currency: 'USD', partial: null, prices: { version: `it-${runTag}` } });
      expect(cost.attempts).toHaveLength(1);
      expect(cost.attempts[0]).toMatchObject({ spot: false, node: nodeName });
      expect(cost.attempts[0]!.quantities.cpu.basis).toBe('request');
      expect(record.attempts[0]!.measurement?.usage.samples).toBeGreaterThan(0);

      const entry = ledgerEntrySchema.parse(
        JSON.parse(
          (
            await onDemandHarness.store.getBytes(ledgerKey(record.timings.finishedAt!, record.evaluationId))
          ).toString(),
        ),
      );
      expect(entry).toMatchObject({
        evaluationId: record.evaluationId,
        team,
        total: cost.total,
        attempts: 1,
      });
      const described = await onDemandHarness.client.temporal.workflow
        .getHandle(evaluationWorkflowId(record.evaluationId))
        .describe();
      expect(described.searchAttributes.AssayCostUsd).toEqual([cost.total]);
    },
  );

  it.concurrent('prices an attempt on a node labelled spot at spot prices', async () => {
    const record = await run(spotHarness, { command: ['sh', '-c', 'sleep 4'] });
    expect(record.outcome).toBe('Succeeded');
    const cost = costOf(record);
    expect(cost.attempts[0]).toMatchObject({ spot: true });
    expect(record.attempts[0]!.measurement?.spotLabel).toBe(`${spotKey}=true`);
    const expected = byRequests(wallHours(record), {
      cpuCoreHour: spot.cpuCoreHour,
      memoryGiBHour: spot.memoryGiBHour,
      ephemeralStorageGiBHour: prices.ephemeralStorageGiBHour * (1 - spot.discount),
    });
    expect(Math.abs(cost.total - expected) / expected).toBeLessThan(0.01);
  });

  it.concurrent('prices memory used beyond the request at the usage', async () => {
    const hold =
      'import time; b = bytearray(160 * 1024 * 1024); b[::4096] = b"x" * len(b[::4096]); time.sleep(8)';
    const record = await run(onDemandHarness, {
      image: PYTHON,
      command: ['python3', '-c', hold],
      resources: { cpu: '500m', memory: '32Mi', ephemeralStorage: '64Mi', limits: { memory: '512Mi' } },
    });
    expect(record.outcome).toBe('Succeeded');
    const cost = costOf(record);
    const peak = record.attempts[0]!.measurement!.usage.peakMemoryBytes!;
    expect(peak).toBeGreaterThan(150 * 1024 * 1024);
    expect(cost.attempts[0]!.quantities.memory.basis).toBe('usage');
    const expected = (peak / gib) * wallHours(record) * prices.memoryGiBHour;
    expect(Math.abs(cost.byResource.memory - expected) / expected).toBeLessThan(0.01);
    // What the request alone would have cost is five times less.
    expect(cost.byResource.memory).toBeGreaterThan(
      ((32 * 1024 * 1024) / gib) * wallHours(record) * prices.memoryGiBHour * 4,
    );
  });

  it.concurrent('prices every attempt of a failed then retried evaluation', async () => {
    const record = await run(onDemandHarness, {
      command: ['sh', '-c', 'sleep 2; exit 3'],
      retries: { maxAttempts: 2, backoffSeconds: 1, transientExitCodes: [3] },
    });
    expect(record.outcome).toBe('Failed');
    const cost = costOf(record);
    expect(cost.attempts.map((a) => a.kind)).toEqual(['Failed', 'Failed']);
    for (const [i, a] of cost.attempts.entries()) {
      expect(a.total).toBeGreaterThan(0);
      expect(Math.abs(a.total - byRequests(wallHours(record, i), prices))).toBeLessThan(a.total * 0.01);
    }
    expect(cost.retried).toBeCloseTo(cost.attempts[0]!.total, 12);
    expect(cost.total).toBeCloseTo(cost.attempts[0]!.total + cost.attempts[1]!.total, 12);
  });

  it.concurrent(
    'sends overBudget once, before the outcome, when an evaluation takes its team over its monthly budget',
    async () => {
      const hook = { url: `http://localhost:${receiver.port}/budget`, events: ['overBudget', 'succeeded'] };
      const spec = { team: budgetTeam, command: ['sh', '-c', 'sleep 1'], webhooks: [hook] };
      // The first evaluation of the team this month crosses the line; the second finds it crossed already.
      const first = await run(onDemandHarness, spec);
      const second = await run(onDemandHarness, spec);
      for (const r of [first, second]) {
        expect(r.outcome).toBe('Succeeded');
        await onDemandHarness.client.temporal.workflow
          .getHandle(deliveryWorkflowId(r.evaluationId, 0))
          .result();
      }
      const bodies = receiver.requests('/budget').map((r) => webhookPayloadSchema.parse(JSON.parse(r.body)));
      const of = (id: string) => bodies.filter((b) => b.data.evaluationId === id);
      expect(of(first.evaluationId).map((b) => b.type)).toEqual(['overBudget', 'succeeded']);
      expect(of(second.evaluationId).map((b) => b.type)).toEqual(['succeeded']);
      const budget = of(first.evaluationId)[0]!.data.budget!;
      expect(budget).toMatchObject({
        month: first.timings.finishedAt!.slice(0, 7),
        budget: tinyBudget,
        currency: 'USD',
      });
      // The team's spend this month at that moment: the first evaluation alone.
      expect(budget.spent).toBeCloseTo(costOf(first).total, 9);
      expect(of(first.evaluationId)[1]!.data.budget).toBeUndefined();
    },
  );
});
