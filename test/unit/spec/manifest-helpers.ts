/** Builders for EvaluationJob test manifests. */
import { parseEvaluationJob, type EvaluationJob, type SpecIssue } from '../../../src/spec/index.js';

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

/** The smallest valid manifest, fresh on each call. */
export function minimalManifest(): { [key: string]: Json } {
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    metadata: { name: 'unit-test' },
    spec: { team: 'ml', user: 'alice', image: 'python:3.12' },
  };
}

function segmentsOf(path: string): (string | number)[] {
  return [...path.matchAll(/([^.[\]]+)|\[(\d+)\]/g)].map((m) =>
    m[2] !== undefined ? Number(m[2]) : (m[1] ?? ''),
  );
}

/** Returns a copy of `manifest` with the field at a dotted path (`spec.env[0].name`) set, creating parents. */
export function withField(manifest: Json, path: string, value: Json | undefined): Json {
  const copy = structuredClone(manifest);
  const segments = segmentsOf(path);
  let node: Json = copy;
  segments.forEach((segment, index) => {
    const container = node as Record<string | number, Json>;
    if (index === segments.length - 1) {
      if (value === undefined) delete container[segment];
      else container[segment] = value;
      return;
    }
    if (container[segment] === undefined || container[segment] === null) {
      container[segment] = typeof segments[index + 1] === 'number' ? [] : {};
    }
    node = container[segment];
  });
  return copy;
}

/** A minimal manifest with several fields set. */
export function manifestWith(fields: Record<string, Json | undefined>): Json {
  return Object.entries(fields).reduce<Json>(
    (m, [path, value]) => withField(m, path, value),
    minimalManifest(),
  );
}

/** Parses and expects success. */
export function expectValid(input: unknown): EvaluationJob {
  const result = parseEvaluationJob(input);
  if (!result.ok) {
    throw new Error(
      `expected a valid manifest, got:\n${result.issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`,
    );
  }
  return result.value;
}

/** Parses and expects failure; returns the issues. */
export function expectIssues(input: unknown): readonly SpecIssue[] {
  const result = parseEvaluationJob(input);
  if (result.ok) throw new Error(`expected issues, got a valid manifest: ${JSON.stringify(result.value)}`);
  return result.issues;
}
