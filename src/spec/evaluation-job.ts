/**
 * Parsing an `EvaluationJob` manifest (`apiVersion: assay.dev/v1`), the one contract for an evaluation, accepted by
 * `assay run -f`, by `AssayClient.start` and, through the CRD, by `kubectl apply -f`. The schema is in
 * `./evaluation-job-schema.ts`, its bounds and defaults in `./spec-constants.ts`.
 *
 * Parsing never throws for bad input: it returns every problem with its field path, or the normalised manifest
 * (defaults filled in, quantities canonical, paths without `./`), so two manifests that mean the same thing parse to
 * the same value.
 *
 * @packageDocumentation
 */
import type { z } from 'zod';
import { specErrorMap, toSpecIssues, type SpecIssue } from './issues.js';
import {
  evaluationJobSchema,
  evaluationSpecSchema,
  type EvaluationJob,
  type EvaluationSpec,
} from './evaluation-job-schema.js';

/** The outcome of parsing: the normalised value, or every problem found. */
export type ParseResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly SpecIssue[] };

function parseWith<S extends z.ZodType>(schema: S, input: unknown): ParseResult<z.output<S>> {
  const result = schema.safeParse(input, { error: specErrorMap });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: toSpecIssues(result.error, schema) };
}

/**
 * Validates and normalises a whole manifest (already read from YAML or JSON). Never throws for bad input: every
 * problem is returned with its path (`spec.resources.memory`, `spec.env[2].name`).
 */
export function parseEvaluationJob(input: unknown): ParseResult<EvaluationJob> {
  return parseWith(evaluationJobSchema, input);
}

/**
 * Validates and normalises a bare `spec` (for callers that build specs in code). Issue paths are relative to the
 * spec: `resources.memory`.
 */
export function parseEvaluationSpec(input: unknown): ParseResult<EvaluationSpec> {
  return parseWith(evaluationSpecSchema, input);
}

/** Thrown by {@link evaluationJobOrThrow} and {@link evaluationSpecOrThrow}; carries every issue. */
export class InvalidEvaluationSpecError extends Error {
  /** Stable code to match on across process and Temporal boundaries. */
  readonly code = 'ASSAY_INVALID_SPEC';
  readonly issues: readonly SpecIssue[];

  constructor(issues: readonly SpecIssue[]) {
    const lines = issues.map((issue) =>
      issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`,
    );
    super(`invalid evaluation spec:\n  ${lines.join('\n  ')}`);
    this.name = 'InvalidEvaluationSpecError';
    this.issues = issues;
  }
}

/**
 * Like {@link parseEvaluationJob}, for callers that treat invalid input as an error.
 * @throws {@link InvalidEvaluationSpecError} listing every issue when the manifest is invalid.
 */
export function evaluationJobOrThrow(input: unknown): EvaluationJob {
  const result = parseEvaluationJob(input);
  if (!result.ok) throw new InvalidEvaluationSpecError(result.issues);
  return result.value;
}

/**
 * Like {@link parseEvaluationSpec}, for callers that treat invalid input as an error.
 * @throws {@link InvalidEvaluationSpecError} listing every issue when the spec is invalid.
 */
export function evaluationSpecOrThrow(input: unknown): EvaluationSpec {
  const result = parseEvaluationSpec(input);
  if (!result.ok) throw new InvalidEvaluationSpecError(result.issues);
  return result.value;
}
