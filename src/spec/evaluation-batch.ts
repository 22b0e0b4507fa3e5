/**
 * Parsing and expanding an `EvaluationBatch` (schema in `./evaluation-batch-schema.ts`, docs/batches.md).
 *
 * Expansion is a pure function of the manifest and an index, so the batch workflow computes entry `i` when it starts
 * it (nothing per entry travels through its input) and the client validates every entry before anything starts.
 * Evaluation ids are deterministic: `<batch>-<index>`, and `<batch>-<index>-r<n>` for the n-th re-run of a failed one.
 *
 * @packageDocumentation
 */
import type { EvaluationJob } from './evaluation-job-schema.js';
import { parseEvaluationJob, type ParseResult } from './evaluation-job.js';
import { formatPath, toSpecIssues, specErrorMap, type SpecIssue } from './issues.js';
import { specLimits, evaluationJobApiVersion, evaluationJobKind } from './spec-constants.js';
import {
  batchLimits,
  evaluationBatchSchema,
  type EvaluationBatch,
  type MatrixValue,
} from './evaluation-batch-schema.js';

export * from './evaluation-batch-schema.js';

/** The values of one entry, as the text substituted. */
export type EntryValues = Record<string, string>;

/** A parsed batch, its id and its size. */
export interface ParsedBatch {
  readonly batch: EvaluationBatch;
  readonly batchId: string;
  readonly size: number;
}

export interface BatchParseOptions {
  /** Largest expansion allowed (default {@link batchLimits.maxEvaluations}). */
  readonly maxEvaluations?: number;
  /** The id when the manifest has no `metadata.name`. */
  readonly generatedId?: string;
  /** Validate at most this many entries fully (default all). */
  readonly validateEntries?: number;
}

const reference = /\$\{\{\s*(.*?)\s*\}\}/g;
const matrixReference = /^matrix\.([A-Za-z_][A-Za-z0-9_]*)$/;

/** Workflow id of batch `batchId`. */
export function batchWorkflowId(batchId: string): string {
  return `batch-${batchId}`;
}

/** Evaluation id of entry `index` (its `retry`-th re-run when `retry > 0`). */
export function batchEvaluationId(batchId: string, index: number, retry = 0): string {
  return retry === 0 ? `${batchId}-${index}` : `${batchId}-${index}-r${retry}`;
}

/** How many evaluations the batch expands into. */
export function batchSize(batch: EvaluationBatch): number {
  if (batch.spec.entries !== undefined) return batch.spec.entries.length;
  return Object.values(batch.spec.matrix ?? {}).reduce((n, axis) => n * axis.length, 1);
}

function text(value: MatrixValue): string {
  return typeof value === 'string' ? value : String(value);
}

/** The values of entry `index` (matrix: mixed radix, the first axis varying slowest). */
export function entryValues(batch: EvaluationBatch, index: number): EntryValues {
  if (batch.spec.entries !== undefined) {
    const entry = batch.spec.entries[index] ?? {};
    return Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, text(v)]));
  }
  const axes = Object.entries(batch.spec.matrix ?? {});
  const out: EntryValues = {};
  let rest = index;
  for (let a = axes.length - 1; a >= 0; a--) {
    const [name, values] = axes[a]!;
    out[name] = text(values[rest % values.length]!);
    rest = Math.floor(rest / values.length);
  }
  return Object.fromEntries(axes.map(([name]) => [name, out[name]!]));
}

/** Where `${{ }}` may appear in the template, as paths relative to `spec.template`. */
function substitutable(path: readonly (string | number)[]): boolean {
  const [top, field, index, key] = path;
  if (top === 'metadata') return field === 'labels' && path.length === 3;
  if (top !== 'spec') return false;
  if ((field === 'command' || field === 'args') && typeof index === 'number') return path.length === 3;
  return field === 'env' && typeof index === 'number' && key === 'value' && path.length === 4;
}

/**
 * Substitutes `values` into the template, or lists every reference that is misplaced or unknown (paths from the
 * document root, `spec.template.spec.args[1]`).
 */
export function substitute(
  template: unknown,
  values: EntryValues,
): { ok: true; value: unknown } | { ok: false; issues: SpecIssue[] } {
  const issues: SpecIssue[] = [];
  const walk = (node: unknown, path: (string | number)[]): unknown => {
    if (typeof node === 'string') {
      if (!node.includes('${{')) return node;
      const at = formatPath(['spec', 'template', ...path]);
      if (!substitutable(path)) {
        issues.push({
          path: at,
          message: '${{ }} is only substituted in command, args, env values and labels',
        });
        return node;
      }
      return node.replace(reference, (whole, inner: string) => {
        const m = matrixReference.exec(inner);
        if (m === null) {
          issues.push({
            path: at,
            message: `unknown reference ${whole}: only \${{ matrix.<name> }} is defined`,
          });
          return whole;
        }
        const value = values[m[1]!];
        if (value === undefined) {
          const known = Object.keys(values);
          issues.push({
            path: at,
            message: `unknown reference ${whole}: the matrix has ${known.length > 0 ? known.join(', ') : 'no variables'}`,
          });
          return whole;
        }
        return value;
      });
    }
    if (Array.isArray(node)) return node.map((v, i) => walk(v, [...path, i]));
    if (node !== null && typeof node === 'object') {
      return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, walk(v, [...path, k])]));
    }
    return node;
  };
  const value = walk(template, []);
  return issues.length > 0 ? { ok: false, issues } : { ok: true, value };
}

function describeValues(values: EntryValues): string {
  return Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/**
 * The EvaluationJob manifest of entry `index` before validation, or the substitution's issues (paths from the batch
 * document's root).
 */
export function entryManifest(
  parsed: ParsedBatch,
  index: number,
  retry = 0,
): { ok: true; value: unknown; values: EntryValues } | { ok: false; issues: SpecIssue[] } {
  const values = entryValues(parsed.batch, index);
  const substituted = substitute(parsed.batch.spec.template, values);
  if (!substituted.ok) return substituted;
  const template = substituted.value as { metadata?: { labels?: Record<string, string> }; spec: unknown };
  return {
    ok: true,
    values,
    value: {
      apiVersion: evaluationJobApiVersion,
      kind: evaluationJobKind,
      metadata: {
        name: batchEvaluationId(parsed.batchId, index, retry),
        ...(template.metadata?.labels !== undefined ? { labels: template.metadata.labels } : {}),
      },
      spec: template.spec,
    },
  };
}

/**
 * Entry `index` as a validated, normalised EvaluationJob (its `metadata.name` the evaluation id). Issues name the
 * template's field and the entry.
 */
export function expandEntry(parsed: ParsedBatch, index: number, retry = 0): ParseResult<EvaluationJob> {
  const manifest = entryManifest(parsed, index, retry);
  if (!manifest.ok) return manifest;
  const job = parseEvaluationJob(manifest.value);
  if (job.ok) return job;
  const suffix = ` (entry ${index}: ${describeValues(manifest.values)})`;
  return {
    ok: false,
    issues: job.issues.map((issue) => ({
      path: issue.path.startsWith('metadata.name')
        ? 'metadata.name'
        : issue.path.startsWith('metadata.')
          ? `spec.template.${issue.path}`
          : issue.path.startsWith('spec')
            ? `spec.template.${issue.path}`
            : issue.path,
      message: `${issue.message}${suffix}`,
    })),
  };
}

/**
 * Validates a batch manifest: its own fields, its size against the maximum, the id length its evaluation ids need,
 * the entries' variables, and every entry's EvaluationJob after substitution (the first few failing entries are
 * reported). Never throws for bad input.
 */
export function parseEvaluationBatch(
  input: unknown,
  options: BatchParseOptions = {},
): ParseResult<ParsedBatch> {
  const result = evaluationBatchSchema.safeParse(input, { error: specErrorMap });
  if (!result.success) return { ok: false, issues: toSpecIssues(result.error, evaluationBatchSchema) };
  const batch = result.data;
  const batchId = batch.metadata.name ?? options.generatedId;
  if (batchId === undefined)
    return { ok: false, issues: [{ path: 'metadata.name', message: 'is required' }] };
  const size = batchSize(batch);
  const max = options.maxEvaluations ?? batchLimits.maxEvaluations;
  if (size > max) {
    const where = batch.spec.entries !== undefined ? 'spec.entries' : 'spec.matrix';
    return {
      ok: false,
      issues: [{ path: where, message: `expands to ${size} evaluations, more than the maximum of ${max}` }],
    };
  }
  const longest = batchEvaluationId(batchId, size - 1, batch.spec.retryFailed);
  if (longest.length > specLimits.nameLength) {
    return {
      ok: false,
      issues: [
        {
          path: 'metadata.name',
          message:
            `is too long: the evaluation id ${longest} would exceed ${specLimits.nameLength} characters; ` +
            `use at most ${specLimits.nameLength - (longest.length - batchId.length)} characters`,
        },
      ],
    };
  }
  const parsed: ParsedBatch = { batch, batchId, size };
  const issues: SpecIssue[] = [];
  let failing = 0;
  const limit = Math.min(size, options.validateEntries ?? size);
  for (let i = 0; i < limit && failing < 3; i++) {
    const entry = expandEntry(parsed, i);
    if (!entry.ok) {
      failing++;
      issues.push(...entry.issues);
    }
  }
  if (issues.length === 0) return { ok: true, value: parsed };
  // A misplaced reference fails every entry alike: report it once.
  const seen = new Set<string>();
  return {
    ok: false,
    issues: issues.filter((i) => {
      const key = `${i.path}\u0000${i.message}`;
      return seen.has(key) ? false : (seen.add(key), true);
    }),
  };
}
