/**
 * Renderings of a cost report (docs/cost.md, "Reports"): a terminal table, CSV (one row per group), JSON (the report
 * itself) and one self-contained HTML file with an inline SVG chart of cost per day per group and the top evaluations
 * (no script, no network at view time).
 */
import Table from 'cli-table3';
import type { CostReport, GroupRow } from './aggregate.js';

export const csvColumns = [
  'group',
  'evaluations',
  'total',
  'cpu',
  'memory',
  'gpu',
  'ephemeralStorage',
  'cpuCoreHours',
  'memoryGiBHours',
  'gpuHours',
  'retried',
  'spot',
  'partial',
  'budgetMonthly',
  'budgetMode',
  'overBudget',
] as const;

function csvCell(value: string | number | boolean | null): string {
  if (value === null) return '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvRow(row: GroupRow): (string | number | boolean | null)[] {
  return [
    row.group,
    row.evaluations,
    row.total,
    row.byResource.cpu,
    row.byResource.memory,
    row.byResource.gpu,
    row.byResource.ephemeralStorage,
    row.usage.cpuCoreHours,
    row.usage.memoryGiBHours,
    row.usage.gpuHours,
    row.retried,
    row.spot,
    row.partial,
    row.budget?.monthly ?? null,
    row.budget?.mode ?? null,
    row.budget?.over ?? null,
  ];
}

/** CSV with full-precision numbers, so sums of it equal the JSON's. */
export function renderCsv(report: CostReport): string {
  const lines = [csvColumns.join(','), ...report.groups.map((g) => csvRow(g).map(csvCell).join(','))];
  return `${lines.join('\n')}\n`;
}

export function renderJson(report: CostReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function money(value: number, currency: string | null): string {
  const digits = value !== 0 && Math.abs(value) < 0.01 ? 6 : 2;
  return `${value.toFixed(digits)}${currency !== null ? ` ${currency}` : ''}`;
}

export function renderTable(report: CostReport): string {
  const table = new Table({
    head: [
      report.by,
      'evaluations',
      'total',
      'cpu',
      'memory',
      'gpu',
      'storage',
      'core-h',
      'GiB-h',
      'retried',
      'budget',
    ],
  });
  for (const g of report.groups) {
    table.push([
      g.group,
      g.evaluations,
      money(g.total, report.currency),
      money(g.byResource.cpu, null),
      money(g.byResource.memory, null),
      money(g.byResource.gpu, null),
      money(g.byResource.ephemeralStorage, null),
      g.usage.cpuCoreHours.toPrecision(4),
      g.usage.memoryGiBHours.toPrecision(4),
      money(g.retried, null),
      g.budget === null
        ? ''
        : `${g.budget.over ? 'OVER ' : ''}${money(g.budget.monthly, null)}/month (${g.budget.mode})`,
    ]);
  }
  const lines = [
    `Cost by ${report.by}, ${report.from} – ${report.to}: ${money(report.total, report.currency)} over ${report.evaluations} evaluations`,
    table.toString(),
  ];
  if (report.currencies.length > 1)
    lines.push(`warning: entries in several currencies (${report.currencies.join(', ')})`);
  if (report.malformedCount > 0) lines.push(`${report.malformedCount} malformed ledger entries skipped`);
  return `${lines.join('\n')}\n`;
}

function escapeHtml(text: string): string {
  return text
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;')
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&#39;');
}

const palette = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
];

/** Stacked areas of cost per day, one per group, as inline SVG. */
function chartSvg(report: CostReport): string {
  const width = 900;
  const height = 320;
  const pad = { left: 70, right: 20, top: 20, bottom: 40 };
  const { days, groups } = report.series;
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const stacked = days.map((_, i) => groups.reduce((s, g) => s + (g.costs[i] ?? 0), 0));
  const max = Math.max(...stacked, 0) || 1;
  const x = (i: number): number =>
    pad.left + (days.length <= 1 ? plotW / 2 : (i * plotW) / (days.length - 1));
  const y = (v: number): number => pad.top + plotH - (v / max) * plotH;
  const parts: string[] = [];
  const base = new Array<number>(days.length).fill(0);
  groups.forEach((g, gi) => {
    const top = base.map((b, i) => b + (g.costs[i] ?? 0));
    const upper = top.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
    const lower = base.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`).reverse();
    const color = palette[gi % palette.length]!;
    parts.push(
      `<polygon class="series" data-group="${escapeHtml(g.group)}" fill="${color}" fill-opacity="0.75" stroke="${color}" points="${[...upper, ...lower].join(' ')}"><title>${escapeHtml(g.group)}</title></polygon>`,
    );
    top.forEach((v, i) => (base[i] = v));
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
    const v = max * f;
    return `<line x1="${pad.left}" x2="${width - pad.right}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#ddd"/><text x="${pad.left - 6}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${v === 0 ? '0' : v >= 1 ? v.toFixed(2) : v.toPrecision(3)}</text>`;
  });
  const step = Math.max(1, Math.ceil(days.length / 10));
  const labels = days
    .map((d, i) =>
      i % step === 0
        ? `<text x="${x(i).toFixed(1)}" y="${height - pad.bottom + 16}" text-anchor="middle" font-size="11">${d.slice(5)}</text>`
        : '',
    )
    .join('');
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img" aria-label="cost per day by ${escapeHtml(report.by)}">` +
    ticks.join('') +
    parts.join('') +
    labels +
    `<line x1="${pad.left}" x2="${width - pad.right}" y1="${pad.top + plotH}" y2="${pad.top + plotH}" stroke="#333"/>` +
    `</svg>`
  );
}

/** One HTML file: summary, chart with legend, groups, top evaluations, malformed entries. */
export function renderHtml(report: CostReport): string {
  const cur = report.currency;
  const legend = report.series.groups
    .map(
      (g, i) =>
        `<li><span class="swatch" style="background:${palette[i % palette.length]}"></span>${escapeHtml(g.group)}</li>`,
    )
    .join('');
  const groupRows = report.groups
    .map(
      (g) =>
        `<tr${g.budget?.over === true ? ' class="over"' : ''}><td>${escapeHtml(g.group)}</td><td>${g.evaluations}</td><td>${money(g.total, cur)}</td><td>${money(g.byResource.cpu, null)}</td><td>${money(g.byResource.memory, null)}</td><td>${money(g.byResource.gpu, null)}</td><td>${g.usage.cpuCoreHours.toPrecision(4)}</td><td>${g.usage.memoryGiBHours.toPrecision(4)}</td><td>${money(g.retried, null)}</td><td>${
          g.budget === null
            ? ''
            : `${escapeHtml(g.budget.mode)} ${money(g.budget.monthly, cur)}/month${g.budget.over ? ' — <strong>over budget</strong>' : ''}`
        }</td></tr>`,
    )
    .join('');
  const topRows = report.top
    .map(
      (t) =>
        `<tr><td>${escapeHtml(t.evaluationId)}</td><td>${escapeHtml(t.team)}</td><td>${escapeHtml(t.user)}</td><td>${escapeHtml(t.cluster ?? '')}</td><td>${escapeHtml(t.outcome)}</td><td>${escapeHtml(t.finishedAt)}</td><td>${money(t.total, cur)}</td></tr>`,
    )
    .join('');
  const malformed =
    report.malformedCount === 0
      ? ''
      : `<h2>Malformed ledger entries (${report.malformedCount}, skipped)</h2><ul>${report.malformed.map((m) => `<li><code>${escapeHtml(m.key)}</code>: ${escapeHtml(m.reason)}</li>`).join('')}</ul>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Assay cost by ${escapeHtml(report.by)}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
td:first-child,th:first-child{text-align:left}tr.over td{background:#fde2e2}
.legend{list-style:none;padding:0;display:flex;flex-wrap:wrap;gap:1em}.swatch{display:inline-block;width:12px;height:12px;margin-right:4px}
</style></head><body>
<h1>Cost by ${escapeHtml(report.by)}</h1>
<p id="summary">${escapeHtml(report.from)} – ${escapeHtml(report.to)}: <strong>${money(report.total, cur)}</strong> over ${report.evaluations} evaluations.</p>
<h2>Cost per day</h2>
<div id="cost-chart">${chartSvg(report)}</div>
<ul class="legend">${legend}</ul>
<h2>By ${escapeHtml(report.by)}</h2>
<table id="groups"><thead><tr><th>${escapeHtml(report.by)}</th><th>evaluations</th><th>total</th><th>cpu</th><th>memory</th><th>gpu</th><th>core-hours</th><th>GiB-hours</th><th>retried</th><th>budget</th></tr></thead><tbody>${groupRows}</tbody></table>
<h2>Top evaluations</h2>
<table id="top"><thead><tr><th>evaluation</th><th>team</th><th>user</th><th>cluster</th><th>outcome</th><th>finished</th><th>cost</th></tr></thead><tbody>${topRows}</tbody></table>
${malformed}
</body></html>
`;
}
