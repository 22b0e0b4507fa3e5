/**
 * `assay report cost` on a synthetic ledger of 1,000 entries (and two malformed ones) in the real S3, under a key
 * range of its own: totals equal the sum of the entries, CSV and JSON agree, a budget is flagged, an empty range is an
 * empty report with exit 0, bad input exits 2, and the HTML report shows its chart in headless Chromium.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import type { LedgerEntry } from '../../src/spec/cost.js';
import { ledgerKey } from '../../src/spec/cost.js';
import type { CostReport } from '../../src/cost/report/aggregate.js';
import { csvColumns } from '../../src/cost/report/render.js';
import { reportCommand } from '../../src/client/cli/report.js';
import { Command } from 'commander';
import { createS3ObjectStore, loadS3Config, type S3ObjectStore } from '../../src/storage/index.js';
import { launchChromium } from '../support/chromium.js';
import { runAssay, type CommandRun } from '../support/cli.js';
import { budgetGate } from '../../src/client/cli/budget-gate.js';
import { recordCost } from '../../src/cost/record-cost.js';
import type { OverBudgetEvent } from '../../src/cost/budget.js';
import { costConfigSchema } from '../../src/spec/pricing-config.js';
import { evaluationCost } from '../../src/cost/compute.js';

const runTag = ulid().toLowerCase().slice(-8);
const prefix = `ledger-test/${runTag}/cost/`;
const teams = ['alpha', 'beta', 'gamma', 'delta', 'epsilon'];
const days = 10;
let store: S3ObjectStore;
let dir: string;
const keys: string[] = [];
const entries: LedgerEntry[] = [];

/** The `report` command in this process (its output captured): the CLI's code without a process start per call. */
async function inProcess(args: string[]): Promise<CommandRun> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: { write: (c: string | Uint8Array) => (stdout += String(c)) },
    stderr: { write: (c: string | Uint8Array) => (stderr += String(c)) },
  };
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    await new Command('assay')
      .addCommand(reportCommand(io))
      .parseAsync(['report', 'cost', ...args], { from: 'user' });
    return { code: Number(process.exitCode ?? 0), stdout, stderr };
  } finally {
    process.exitCode = saved;
  }
}

/** `assay` without the stack's worker config, so each case names its own. */
const cli = (args: string[]): Promise<CommandRun> => runAssay(args, { ASSAY_WORKER_CONFIG: '' });

const range = [
  '--from',
  '2031-03-01',
  '--to',
  `2031-03-${String(days).padStart(2, '0')}`,
  '--ledger-prefix',
  prefix,
];

/** A deterministic pseudo-random cost per entry (not round, so float sums are exercised). */
function entryOf(i: number): LedgerEntry {
  const total = ((i * 7919) % 1000) / 97 + 0.001 * i;
  const day = (i % days) + 1;
  return {
    evaluationId: `synthetic-${runTag}-${i}`,
    team: teams[i % teams.length]!,
    user: `user-${i % 13}`,
    cluster: i % 3 === 0 ? 'gpu-east' : 'local',
    labels: i % 4 === 0 ? { 'cost-center': `cc-${i % 2}` } : {},
    outcome: i % 10 === 0 ? 'Failed' : 'Succeeded',
    finishedAt: `2031-03-${String(day).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:00:00.000Z`,
    currency: 'USD',
    total,
    byResource: { cpu: total * 0.6, memory: total * 0.3, gpu: total * 0.1, ephemeralStorage: 0 },
    usage: { cpuCoreHours: 1, memoryGiBHours: 2, gpuHours: 0, seconds: 3600 },
    attempts: 1,
    retried: 0,
    spot: i % 5 === 0,
    priceVersion: 'synthetic',
    partial: null,
  };
}

async function putAll(items: { key: string; body: string }[]): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < items.length) {
        const item = items[next++]!;
        await store.put(item.key, item.body, { contentType: 'application/json' });
      }
    }),
  );
}

beforeAll(async () => {
  store = createS3ObjectStore(loadS3Config());
  dir = await mkdtemp(join(tmpdir(), 'assay-cost-report-'));
  for (let i = 0; i < 1000; i++) entries.push(entryOf(i));
  const items = entries.map((e) => ({
    key: ledgerKey(e.finishedAt, e.evaluationId).replace('ledger/cost/', prefix),
    body: JSON.stringify(e),
  }));
  items.push({ key: `${prefix}2031/03/02/broken-${runTag}.json`, body: '{"evaluationId": ' });
  items.push({
    key: `${prefix}2031/03/03/incomplete-${runTag}.json`,
    body: JSON.stringify({ evaluationId: 'x' }),
  });
  keys.push(...items.map((i) => i.key));
  await putAll(items);
});

afterAll(async () => {
  let next = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < keys.length) await store.delete(keys[next++]!).catch(() => undefined);
    }),
  );
  await rm(dir, { recursive: true, force: true });
});

function relClose(a: number, b: number): void {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
}

describe('assay report cost', () => {
  it.concurrent(
    'totals equal the sum of the entries; CSV and JSON agree; malformed entries reported',
    async () => {
      const config = join(dir, 'worker.yaml');
      await writeFile(
        config,
        'cost:\n  budgets:\n    alpha: { monthly: 5, mode: chargeback }\n    beta: { monthly: 1000000 }\n',
      );
      const [json, csv] = await Promise.all([
        cli(['report', 'cost', ...range, '--by', 'team', '-o', 'json', '--config', config]),
        cli(['report', 'cost', ...range, '--by', 'team', '-o', 'csv', '--config', config]),
      ]);
      expect(json.code).toBe(0);
      expect(csv.code).toBe(0);
      const report = JSON.parse(json.stdout) as CostReport;
      expect(report.evaluations).toBe(1000);
      relClose(
        report.total,
        entries.reduce((s, e) => s + e.total, 0),
      );
      expect(report.malformedCount).toBe(2);
      expect(json.stderr).toMatch(/2 malformed ledger entries skipped/);
      for (const team of teams) {
        const group = report.groups.find((g) => g.group === team)!;
        const mine = entries.filter((e) => e.team === team);
        expect(group.evaluations).toBe(mine.length);
        relClose(
          group.total,
          mine.reduce((s, e) => s + e.total, 0),
        );
      }
      expect(report.groups.find((g) => g.group === 'alpha')!.budget).toMatchObject({
        monthly: 5,
        over: true,
      });
      expect(report.groups.find((g) => g.group === 'beta')!.budget).toMatchObject({ over: false });
      expect(report.top).toHaveLength(10);
      expect(report.top[0]!.total).toBe(Math.max(...entries.map((e) => e.total)));

      const [header, ...rows] = csv.stdout.trim().split('\n');
      expect(header).toBe(csvColumns.join(','));
      expect(rows).toHaveLength(teams.length);
      for (const row of rows) {
        const cells = row.split(',');
        const group = report.groups.find((g) => g.group === cells[0])!;
        expect(Number(cells[1])).toBe(group.evaluations);
        expect(Number(cells[2])).toBe(group.total);
        expect(cells[15]).toBe(group.budget === null ? '' : String(group.budget.over));
      }
      relClose(
        rows.reduce((s, r) => s + Number(r.split(',')[2]), 0),
        report.total,
      );
    },
  );

  it.concurrent(
    'an empty range is an empty report with exit 0; bad input exits 2 naming the option',
    async () => {
      const [empty, badBy, badDate] = await Promise.all([
        inProcess(['--from', '2030-01-01', '--to', '2030-01-03', '--ledger-prefix', prefix, '-o', 'json']),
        cli(['report', 'cost', ...range, '--by', 'galaxy']),
        inProcess(['--from', 'yesterday-ish']),
      ]);
      expect(empty.code).toBe(0);
      expect(JSON.parse(empty.stdout)).toMatchObject({ evaluations: 0, total: 0, groups: [] });
      expect(badBy.code).toBe(2);
      expect(badBy.stderr).toMatch(/--by: must be team, user, cluster or label:<key>/);
      expect(badDate.code).toBe(2);
      expect(badDate.stderr).toMatch(/--from: "yesterday-ish" is not a date/);
    },
  );

  it.concurrent('the HTML report opens in headless Chromium and shows the chart', async () => {
    const file = join(dir, 'report.html');
    const run = await inProcess([...range, '--by', 'team', '-o', 'html', '--out', file]);
    expect(run.code).toBe(0);
    const browser = await launchChromium();
    try {
      const page = await browser.newPage();
      // Self-contained: any request beyond the file itself fails the test.
      const requests: string[] = [];
      page.on('request', (r) => {
        if (!r.url().startsWith('file://')) requests.push(r.url());
      });
      await page.goto(`file://${file}`);
      type SvgShape = {
        getBBox(): { width: number; height: number };
        getAttribute(name: string): string | null;
      };
      const series = await page.$$eval('#cost-chart svg polygon.series', (nodes: unknown[]) =>
        nodes.map((n) => {
          const shape = n as SvgShape;
          const box = shape.getBBox();
          return { group: shape.getAttribute('data-group'), area: box.width * box.height };
        }),
      );
      expect(series.map((s) => s.group).sort()).toEqual([...teams].sort());
      for (const s of series) expect(s.area).toBeGreaterThan(0);
      expect(await page.$$eval('#top tbody tr', (rows: unknown[]) => rows.length)).toBe(10);
      expect(await page.textContent('#summary')).toMatch(/over 1000 evaluations/);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  });

  it.concurrent(
    'budgets: the crossing evaluation notifies once; assay run warns, or refuses with exit 2 and the figures',
    async () => {
      // This month's real ledger, under a team only this test uses.
      const team = `budget-${runTag}`;
      const config = costConfigSchema.parse({
        clusters: { local: { cpuCoreHour: 3600, memoryGiBHour: 0, ephemeralStorageGiBHour: 0 } },
        budgets: { [team]: { monthly: 1.5, hardStop: true } },
      });
      const events: OverBudgetEvent[] = [];
      const now = Date.now();
      for (const i of [1, 2, 3]) {
        // One core for one second at 3600 per core-hour: 1.0 each.
        const finishedAt = new Date(now - (4 - i) * 1000).toISOString();
        const attempt = {
          attempt: 1,
          kind: 'Succeeded',
          startedAt: new Date(Date.parse(finishedAt) - 1000).toISOString(),
          finishedAt,
          measurement: {
            node: 'n',
            spot: false,
            spotLabel: null,
            requests: { cpuCores: 1, memoryBytes: 0, ephemeralStorageBytes: 0 },
            limits: { cpuCores: null, memoryBytes: null, ephemeralStorageBytes: null },
            gpu: null,
            usage: {
              samples: 0,
              peakMemoryBytes: null,
              cpuCoreSeconds: null,
              peakEphemeralStorageBytes: null,
            },
            observedEndAt: finishedAt,
          },
        };
        const source = {
          evaluationId: `${team}-${i}`,
          team,
          user: 'u',
          cluster: 'local',
          outcome: 'Succeeded',
          timings: { finishedAt },
          spec: {},
        };
        keys.push(ledgerKey(finishedAt, source.evaluationId));
        const cost = evaluationCost([attempt], config.clusters.local!, 'local');
        expect(cost.total).toBeCloseTo(1, 9);
        const first = await recordCost({ config }, store, source, cost);
        // A retried record write: the entry is written once, and the answer is the same.
        await expect(recordCost({ config }, store, source, cost)).resolves.toEqual(first);
        if (first !== null) events.push(first);
      }
      expect(events).toEqual([expect.objectContaining({ team, evaluationId: `${team}-2`, budget: 1.5 })]);
      expect(events[0]!.spent).toBeCloseTo(2, 9);

      const file = join(dir, `budget-${runTag}.yaml`);
      const io = () => {
        const out = { stderr: '', stdout: '' };
        return {
          out,
          io: {
            stdout: { write: (c: string | Uint8Array) => (out.stdout += String(c)) },
            stderr: { write: (c: string | Uint8Array) => (out.stderr += String(c)) },
          },
        };
      };
      await writeFile(file, `cost:\n  budgets:\n    ${team}: { monthly: 1.5, hardStop: true }\n`);
      const refused = io();
      expect(await budgetGate(refused.io, team, file)).toBe(2);
      expect(refused.out.stderr).toMatch(
        new RegExp(`refused: team ${team} has spent 3\\.00 USD of its 1\\.50 USD budget`),
      );
      const soft = join(dir, `budget-soft-${runTag}.yaml`);
      await writeFile(soft, `cost:\n  budgets:\n    ${team}: { monthly: 1.5 }\n`);
      const warned = io();
      expect(await budgetGate(warned.io, team, soft)).toBeNull();
      expect(warned.out.stderr).toMatch(/warning: over budget: .* \(200 %\)/);
      expect(await budgetGate(io().io, 'another-team', soft)).toBeNull();
    },
  );
});
