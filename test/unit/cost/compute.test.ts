import { describe, expect, it } from '@jest/globals';
import { evaluationCost, type CostedAttempt } from '../../../src/cost/compute.js';
import { spotLabelOf } from '../../../src/cost/attempt-meter.js';
import { ledgerEntryOf } from '../../../src/cost/ledger.js';
import { ledgerKey, type AttemptMeasurement, type LedgerEntry } from '../../../src/spec/cost.js';
import { createAggregator, parseGroupBy } from '../../../src/cost/report/aggregate.js';
import { renderCsv, renderHtml } from '../../../src/cost/report/render.js';
import {
  costConfigSchema,
  defaultSpotLabels,
  openCostDefaultPrices,
  pricingFor,
  pricingSchema,
} from '../../../src/spec/pricing-config.js';
import { workerConfigSchema } from '../../../src/spec/worker-config.js';

const gib = 1024 ** 3;

function measurement(over: Partial<AttemptMeasurement> = {}): AttemptMeasurement {
  return {
    node: 'n1',
    spot: false,
    spotLabel: null,
    requests: { cpuCores: 2, memoryBytes: 4 * gib, ephemeralStorageBytes: 0 },
    limits: { cpuCores: null, memoryBytes: null, ephemeralStorageBytes: null },
    gpu: null,
    usage: { samples: 3, peakMemoryBytes: 1 * gib, cpuCoreSeconds: 100, peakEphemeralStorageBytes: null },
    observedEndAt: '2026-01-01T01:00:05Z',
    ...over,
  };
}

function attempt(over: Partial<CostedAttempt> = {}): CostedAttempt {
  return {
    attempt: 1,
    kind: 'Succeeded',
    startedAt: '2026-01-01T00:00:00Z',
    finishedAt: '2026-01-01T01:00:00Z',
    measurement: measurement(),
    ...over,
  };
}

const pricing = pricingSchema.parse({
  version: 'v7',
  cpuCoreHour: 1,
  memoryGiBHour: 0.1,
  ephemeralStorageGiBHour: 0,
  gpuHour: { a100: 3 },
  spot: { cpuCoreHour: 0.25, discount: 0.5 },
});

describe('evaluationCost', () => {
  it('prices max(request, usage) × hours × price per resource', () => {
    const cost = evaluationCost([attempt()], pricing, 'c1');
    // 2 cores requested for 1 h (usage 100 core-seconds is less); 4 GiB requested (peak 1 GiB is less).
    expect(cost.byResource).toEqual({ cpu: 2, memory: 0.4, gpu: 0, ephemeralStorage: 0 });
    expect(cost.total).toBeCloseTo(2.4, 12);
    expect(cost.attempts[0]!.quantities.cpu.basis).toBe('request');
    expect(cost).toMatchObject({ currency: 'USD', partial: null, prices: { version: 'v7', cluster: 'c1' } });
  });

  it('prices each attempt of an evaluation that moved at its own cluster', () => {
    const other = pricingSchema.parse({ ...pricing, version: 'v8', cpuCoreHour: 10 });
    const cost = evaluationCost(
      [attempt({ attempt: 1, kind: 'Infrastructure', cluster: 'b' }), attempt({ attempt: 2, cluster: 'c1' })],
      pricing,
      'c1',
      (cluster) => (cluster === 'b' ? other : pricing),
    );
    expect(cost.attempts.map((a) => a.byResource.cpu)).toEqual([20, 2]);
    expect(cost.retried).toBeCloseTo(20.4, 12);
  });

  it('prices usage above the request at the usage', () => {
    const m = measurement({
      usage: {
        samples: 5,
        peakMemoryBytes: 8 * gib,
        cpuCoreSeconds: 3 * 3600,
        peakEphemeralStorageBytes: null,
      },
    });
    const cost = evaluationCost([attempt({ measurement: m })], pricing, null);
    expect(cost.byResource.cpu).toBeCloseTo(3, 12);
    expect(cost.byResource.memory).toBeCloseTo(0.8, 12);
    expect(cost.attempts[0]!.quantities.memory.basis).toBe('usage');
  });

  it('uses spot prices on spot nodes: explicit, else the discount', () => {
    const cost = evaluationCost([attempt({ measurement: measurement({ spot: true }) })], pricing, null);
    expect(cost.byResource.cpu).toBeCloseTo(0.5, 12); // 2 core-hours × 0.25
    expect(cost.byResource.memory).toBeCloseTo(0.2, 12); // 4 GiB-hours × 0.1 × (1 − 0.5)
    expect(cost.prices.spot.gpuHour).toEqual({ a100: 1.5 });
  });

  it('marks a GPU type without a price as partial, never silently zero', () => {
    const m = measurement({ gpu: { count: 2, type: 'h100' } });
    const cost = evaluationCost([attempt({ measurement: m })], pricing, 'gpu-east');
    expect(cost.partial).toMatch(/no price for GPU type "h100" in price version "v7" \(cluster gpu-east\)/);
    expect(cost.byResource.gpu).toBe(0);
    const priced = evaluationCost(
      [attempt({ measurement: measurement({ gpu: { count: 2, type: 'a100' } }) })],
      pricing,
      null,
    );
    expect(priced.byResource.gpu).toBeCloseTo(6, 12);
    expect(priced.partial).toBeNull();
  });

  it('prices failed attempts too, apart from the last, and queued time not at all', () => {
    const cost = evaluationCost(
      [
        attempt({ kind: 'Infrastructure', finishedAt: '2026-01-01T00:30:00Z' }),
        attempt({ attempt: 2, kind: 'Failed' }),
        attempt({ attempt: 3, kind: null, startedAt: null, finishedAt: null, measurement: null }),
      ],
      pricing,
      null,
    );
    expect(cost.attempts.map((a) => a.total)).toEqual([1.2, 2.4, 0]);
    expect(cost.retried).toBeCloseTo(3.6, 12);
    expect(cost.final).toBe(0);
    expect(cost.total).toBeCloseTo(3.6, 12);
  });

  it('uses the observed end when the container end is unknown, and flags an unmeasured attempt that ran', () => {
    const cost = evaluationCost([attempt({ finishedAt: null })], pricing, null);
    expect(cost.attempts[0]!.seconds).toBe(3605);
    const unmeasured = evaluationCost([attempt({ measurement: null })], pricing, null);
    expect(unmeasured.partial).toMatch(/not measured/);
  });

  it('never takes a start at the Unix epoch (a runtime zero time in older records) for a real one', () => {
    const cost = evaluationCost([attempt({ startedAt: '1970-01-01T00:00:00.000Z' })], pricing, null);
    expect(cost.attempts[0]!.seconds).toBe(0);
    // What was measured still counts: 100 core-seconds of CPU.
    expect(cost.byResource.cpu).toBeCloseTo(100 / 3600, 12);
  });
});

describe('pricing config', () => {
  it('defaults to OpenCost prices with spot prices and the four spot labels', () => {
    const config = costConfigSchema.parse(undefined);
    const p = pricingFor(config, 'anything');
    expect(p).toMatchObject({
      cpuCoreHour: openCostDefaultPrices.cpuCoreHour,
      memoryGiBHour: openCostDefaultPrices.memoryGiBHour,
      spot: { cpuCoreHour: openCostDefaultPrices.spotCpuCoreHour },
    });
    expect(p.spotLabels.map((l) => l.key)).toEqual(defaultSpotLabels.map((l) => l.key));
    expect(config.sampleIntervalSeconds).toBe(15);
  });

  it('names the field of every error', () => {
    const result = workerConfigSchema.safeParse({
      clusters: [{ name: 'a' }],
      cost: {
        clusters: { a: { cpuCoreHour: -1, currency: 'usd', gpuHour: { a100: 'x' } } },
        budgets: { t: { monthly: 0 } },
      },
    });
    expect(result.success).toBe(false);
    const paths = result.error!.issues.map((i) => i.path.join('.'));
    expect(paths).toEqual(
      expect.arrayContaining([
        'cost.clusters.a.cpuCoreHour',
        'cost.clusters.a.currency',
        'cost.clusters.a.gpuHour.a100',
        'cost.budgets.t.monthly',
      ]),
    );
  });

  it('detects spot nodes from labels', () => {
    const labels = defaultSpotLabels.map((l) => ({ key: l.key, values: [...l.values] }));
    expect(spotLabelOf({ 'karpenter.sh/capacity-type': 'spot' }, labels)).toBe(
      'karpenter.sh/capacity-type=spot',
    );
    expect(spotLabelOf({ 'eks.amazonaws.com/capacityType': 'SPOT' }, labels)).not.toBeNull();
    expect(spotLabelOf({ 'karpenter.sh/capacity-type': 'on-demand' }, labels)).toBeNull();
    expect(spotLabelOf(undefined, labels)).toBeNull();
  });
});

describe('ledger', () => {
  it('keys entries by the UTC day the evaluation finished', () => {
    expect(ledgerKey('2026-03-04T23:59:59-02:00', 'e1')).toBe('ledger/cost/2026/03/05/e1.json');
  });

  it('carries the spec labels and the usage sums', () => {
    const cost = evaluationCost([attempt()], pricing, 'c1');
    const entry = ledgerEntryOf(
      {
        evaluationId: 'e1',
        team: 't',
        user: 'u',
        cluster: 'c1',
        outcome: 'Succeeded',
        timings: { finishedAt: '2026-01-01T01:00:00Z' },
        spec: { metadata: { labels: { 'cost-center': 'cc1' } } },
      },
      cost,
    );
    expect(entry).toMatchObject({
      labels: { 'cost-center': 'cc1' },
      usage: { cpuCoreHours: 2, memoryGiBHours: 4, seconds: 3600 },
      priceVersion: 'v7',
    });
  });
});

describe('report aggregation', () => {
  const entry = (i: number, over: Partial<LedgerEntry> = {}): LedgerEntry => ({
    evaluationId: `e${i}`,
    team: i % 2 === 0 ? 'a' : 'b',
    user: 'u',
    cluster: null,
    labels: i % 3 === 0 ? { 'cost-center': 'cc' } : {},
    outcome: 'Succeeded',
    finishedAt: `2026-02-0${(i % 3) + 1}T12:00:00Z`,
    currency: 'USD',
    total: i,
    byResource: { cpu: i, memory: 0, gpu: 0, ephemeralStorage: 0 },
    usage: { cpuCoreHours: 1, memoryGiBHours: 1, gpuHours: 0, seconds: 1 },
    attempts: 1,
    retried: 0,
    spot: false,
    priceVersion: 'v',
    partial: null,
    ...over,
  });
  const range = { from: new Date('2026-02-01T00:00:00Z'), to: new Date('2026-02-04T00:00:00Z') };

  it('sums per group and day, keeps the top N, flags budgets per month', () => {
    const agg = createAggregator({
      ...range,
      by: { kind: 'team' },
      topN: 3,
      budgets: { a: { monthly: 10, mode: 'chargeback', hardStop: false } },
    });
    for (let i = 1; i <= 9; i++) agg.add(entry(i));
    agg.malformed('k', 'not JSON');
    const report = agg.report();
    expect(report.total).toBe(45);
    expect(report.groups.map((g) => [g.group, g.total, g.evaluations])).toEqual([
      ['b', 25, 5],
      ['a', 20, 4],
    ]);
    expect(report.top.map((t) => t.total)).toEqual([9, 8, 7]);
    expect(report.groups.find((g) => g.group === 'a')!.budget).toMatchObject({
      over: true,
      months: [{ month: '2026-02', spent: 20 }],
    });
    expect(report.groups.find((g) => g.group === 'b')!.budget).toBeNull();
    expect(report.series.days).toEqual(['2026-02-01', '2026-02-02', '2026-02-03']);
    const b = report.series.groups.find((g) => g.group === 'b')!;
    expect(b.costs).toEqual([3 + 9, 1 + 7, 5]);
    expect(report).toMatchObject({ malformedCount: 1, currency: 'USD' });
  });

  it('groups by a label, entries without it under (none); parses --by', () => {
    const agg = createAggregator({ ...range, by: parseGroupBy('label:cost-center')! });
    for (let i = 1; i <= 6; i++) agg.add(entry(i));
    expect(agg.report().groups.map((g) => [g.group, g.evaluations])).toEqual([
      ['(none)', 4],
      ['cc', 2],
    ]);
    expect(parseGroupBy('galaxy')).toBeNull();
  });

  it('renders CSV that agrees with the JSON, and HTML with one chart series per group', () => {
    const agg = createAggregator({ ...range, by: { kind: 'team' } });
    for (let i = 1; i <= 6; i++) agg.add(entry(i, { team: i === 1 ? 'a,"quoted"' : 'b' }));
    const report = agg.report();
    const csv = renderCsv(report).trim().split('\n');
    expect(csv[1]).toMatch(/^b,5,20,/);
    expect(csv[2]).toMatch(/^"a,""quoted""",1,1,/);
    const html = renderHtml(report);
    expect(html.match(/<polygon class="series"/g)).toHaveLength(2);
    // Self-contained: no script, nothing fetched.
    expect(html).not.toMatch(/<script|src=|href=/);
    expect(html).toContain('a,&quot;quoted&quot;');
  });
});
