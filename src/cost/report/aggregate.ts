/**
 * Aggregation of ledger entries into a cost report (docs/cost.md, "Reports"): totals per group (team, user, cluster
 * or a label), cost per day per group for the chart, the top evaluations, and per-team monthly budgets. Memory grows
 * with groups × days and stays flat in the number of entries.
 */
import type { ByResource, LedgerEntry } from '../../spec/cost.js';
import type { Budget } from '../../spec/pricing-config.js';
import { ledgerDays } from './read-ledger.js';

export type GroupBy = { kind: 'team' | 'user' | 'cluster' } | { kind: 'label'; key: string };

/** Parses `team|user|cluster|label:<key>`; null when it is none of them. */
export function parseGroupBy(text: string): GroupBy | null {
  if (text === 'team' || text === 'user' || text === 'cluster') return { kind: text };
  const m = /^label:(.+)$/.exec(text);
  return m !== null ? { kind: 'label', key: m[1]! } : null;
}

export function groupByText(by: GroupBy): string {
  return by.kind === 'label' ? `label:${by.key}` : by.kind;
}

/** The group an entry belongs to; entries without the label fall in `(none)`. */
export function groupOf(entry: LedgerEntry, by: GroupBy): string {
  switch (by.kind) {
    case 'team':
      return entry.team;
    case 'user':
      return entry.user;
    case 'cluster':
      return entry.cluster ?? '(none)';
    case 'label':
      return entry.labels[by.key] ?? '(none)';
  }
}

export interface BudgetStatus {
  monthly: number;
  mode: Budget['mode'];
  hardStop: boolean;
  /** Spend per calendar month of the range that has any. */
  months: { month: string; spent: number; over: boolean }[];
  over: boolean;
}

export interface GroupRow {
  group: string;
  evaluations: number;
  total: number;
  byResource: ByResource;
  usage: { cpuCoreHours: number; memoryGiBHours: number; gpuHours: number };
  /** Cost of attempts before the last (failed or infrastructure). */
  retried: number;
  /** Cost of evaluations that ran (at least partly) on spot capacity. */
  spot: number;
  /** Evaluations whose cost is partial (a price was missing). */
  partial: number;
  /** Set when grouped by team and the team has a budget. */
  budget: BudgetStatus | null;
}

export interface TopEvaluation {
  evaluationId: string;
  team: string;
  user: string;
  cluster: string | null;
  outcome: string;
  finishedAt: string;
  total: number;
}

export interface CostReport {
  from: string;
  to: string;
  by: string;
  currency: string | null;
  /** More than one when entries were priced in different currencies (their sums are then not comparable). */
  currencies: string[];
  evaluations: number;
  total: number;
  byResource: ByResource;
  groups: GroupRow[];
  /** Cost per UTC day of the range for the largest groups (the rest summed as `(other)`). */
  series: { days: string[]; groups: { group: string; costs: number[] }[] };
  top: TopEvaluation[];
  malformed: { key: string; reason: string }[];
  malformedCount: number;
}

const zero = (): ByResource => ({ cpu: 0, memory: 0, gpu: 0, ephemeralStorage: 0 });
const resources = ['cpu', 'memory', 'gpu', 'ephemeralStorage'] as const;

export interface AggregatorOptions {
  from: Date;
  to: Date;
  by: GroupBy;
  budgets?: Readonly<Record<string, Budget>>;
  /** How many evaluations `top` lists (10). */
  topN?: number;
  /** How many groups the chart shows before summing the rest (8). */
  chartGroups?: number;
}

export interface Aggregator {
  add(entry: LedgerEntry): void;
  malformed(key: string, reason: string): void;
  report(): CostReport;
}

export function createAggregator(options: AggregatorOptions): Aggregator {
  const days = ledgerDays(options.from, options.to).map((d) => d.replaceAll('/', '-'));
  const dayIndex = new Map(days.map((d, i) => [d, i]));
  const topN = options.topN ?? 10;
  const groups = new Map<string, GroupRow & { daily: Float64Array }>();
  const monthly = new Map<string, Map<string, number>>();
  const currencies = new Set<string>();
  const top: TopEvaluation[] = [];
  const malformed: { key: string; reason: string }[] = [];
  let malformedCount = 0;
  let evaluations = 0;
  let total = 0;
  const byResource = zero();

  return {
    add(entry) {
      const group = groupOf(entry, options.by);
      let row = groups.get(group);
      if (row === undefined) {
        row = {
          group,
          evaluations: 0,
          total: 0,
          byResource: zero(),
          usage: { cpuCoreHours: 0, memoryGiBHours: 0, gpuHours: 0 },
          retried: 0,
          spot: 0,
          partial: 0,
          budget: null,
          daily: new Float64Array(days.length),
        };
        groups.set(group, row);
      }
      row.evaluations++;
      row.total += entry.total;
      for (const r of resources) {
        row.byResource[r] += entry.byResource[r];
        byResource[r] += entry.byResource[r];
      }
      row.usage.cpuCoreHours += entry.usage.cpuCoreHours;
      row.usage.memoryGiBHours += entry.usage.memoryGiBHours;
      row.usage.gpuHours += entry.usage.gpuHours;
      row.retried += entry.retried;
      if (entry.spot) row.spot += entry.total;
      if (entry.partial !== null) row.partial++;
      const day = entry.finishedAt.slice(0, 10);
      const i = dayIndex.get(new Date(entry.finishedAt).toISOString().slice(0, 10)) ?? dayIndex.get(day);
      if (i !== undefined) row.daily[i] = row.daily[i]! + entry.total;
      const month = new Date(entry.finishedAt).toISOString().slice(0, 7);
      const months = monthly.get(entry.team) ?? new Map<string, number>();
      months.set(month, (months.get(month) ?? 0) + entry.total);
      monthly.set(entry.team, months);
      currencies.add(entry.currency);
      evaluations++;
      total += entry.total;
      if (top.length < topN || entry.total > top[top.length - 1]!.total) {
        const item: TopEvaluation = {
          evaluationId: entry.evaluationId,
          team: entry.team,
          user: entry.user,
          cluster: entry.cluster,
          outcome: entry.outcome,
          finishedAt: entry.finishedAt,
          total: entry.total,
        };
        const at = top.findIndex((t) => entry.total > t.total);
        top.splice(at < 0 ? top.length : at, 0, item);
        if (top.length > topN) top.pop();
      }
    },
    malformed(key, reason) {
      malformedCount++;
      if (malformed.length < 100) malformed.push({ key, reason });
    },
    report() {
      const rows = [...groups.values()].sort((a, b) => b.total - a.total || a.group.localeCompare(b.group));
      if (options.by.kind === 'team') {
        for (const row of rows) {
          const budget = options.budgets?.[row.group];
          if (budget === undefined) continue;
          const months = [...(monthly.get(row.group) ?? new Map<string, number>()).entries()]
            .sort(([a], [b]) => a.localeCompare(b))
            .map(([month, spent]) => ({ month, spent, over: spent > budget.monthly }));
          row.budget = {
            monthly: budget.monthly,
            mode: budget.mode,
            hardStop: budget.hardStop,
            months,
            over: months.some((m) => m.over),
          };
        }
      }
      const shown = options.chartGroups ?? 8;
      const seriesGroups = rows.slice(0, shown).map((r) => ({ group: r.group, costs: [...r.daily] }));
      if (rows.length > shown) {
        const other = new Array<number>(days.length).fill(0);
        for (const r of rows.slice(shown)) r.daily.forEach((v, i) => (other[i]! += v));
        seriesGroups.push({ group: '(other)', costs: other });
      }
      const sortedCurrencies = [...currencies].sort();
      return {
        from: options.from.toISOString(),
        to: options.to.toISOString(),
        by: groupByText(options.by),
        currency: sortedCurrencies.length === 1 ? sortedCurrencies[0]! : null,
        currencies: sortedCurrencies,
        evaluations,
        total,
        byResource,
        groups: rows.map(({ daily: _daily, ...row }) => row),
        series: { days, groups: seriesGroups },
        top,
        malformed,
        malformedCount,
      };
    },
  };
}
