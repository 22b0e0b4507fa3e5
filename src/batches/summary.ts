/**
 * The batch summary (docs/batches.md, "The summary"): one row per evaluation — its entry's values, outcome, exit
 * code, duration, cost and the fields of its JSON result flattened to columns — as JSON and as CSV.
 */
import type { BatchSummary, BatchSummaryRow } from '../spec/evaluation-batch-run.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** `{a: {b: 1}, c: [1, 2]}` → `{'a.b': 1, c: '[1,2]'}`; a scalar result is the column `value`. */
export function flattenResult(result: unknown): Record<string, string | number | boolean | null> {
  const out: Record<string, string | number | boolean | null> = {};
  const walk = (node: Json, prefix: string): void => {
    if (node !== null && typeof node === 'object' && !Array.isArray(node)) {
      const entries = Object.entries(node);
      if (entries.length === 0 && prefix !== '') out[prefix] = '{}';
      for (const [k, v] of entries) walk(v, prefix === '' ? k : `${prefix}.${k}`);
      return;
    }
    out[prefix === '' ? 'value' : prefix] = Array.isArray(node) ? JSON.stringify(node) : node;
  };
  if (result !== null && result !== undefined) walk(result as Json, '');
  return out;
}

function cell(value: string | number | boolean | null | undefined): string {
  if (value === null || value === undefined) return '';
  const text = String(value);
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/**
 * The CSV of a summary: fixed columns, then one column per matrix variable, then `result.<field>` for every field
 * any evaluation's result has (in the order first seen).
 */
export function summaryCsv(summary: BatchSummary): string {
  const variables: string[] = [];
  const fields: string[] = [];
  const flat = summary.evaluations.map((row) => flattenResult(row.result));
  const add = (list: string[], seen: Set<string>, key: string): void => {
    if (!seen.has(key)) {
      seen.add(key);
      list.push(key);
    }
  };
  const seenVariables = new Set<string>();
  const seenFields = new Set<string>();
  for (const row of summary.evaluations)
    for (const k of Object.keys(row.values)) add(variables, seenVariables, k);
  for (const f of flat) for (const k of Object.keys(f)) add(fields, seenFields, k);
  const head = [
    'index',
    'evaluationId',
    ...variables.map((v) => `matrix.${v}`),
    'outcome',
    'exitCode',
    'durationSeconds',
    'cost',
    ...fields.map((f) => `result.${f}`),
  ];
  const lines = [head.map(cell).join(',')];
  summary.evaluations.forEach((row: BatchSummaryRow, i) => {
    lines.push(
      [
        row.index,
        row.evaluationId,
        ...variables.map((v) => row.values[v]),
        row.outcome,
        row.exitCode,
        row.durationSeconds,
        row.cost,
        ...fields.map((f) => flat[i]![f]),
      ]
        .map(cell)
        .join(','),
    );
  });
  return `${lines.join('\n')}\n`;
}
