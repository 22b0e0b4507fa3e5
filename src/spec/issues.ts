/**
 * Turning zod's issues into the field-level errors a person can act on: one `{path, message}` per problem, the path
 * dotted as the user wrote the manifest (`spec.env[2].name`), the message a sentence without zod jargon.
 *
 * @packageDocumentation
 */
import { z } from 'zod';

/** One problem with a manifest: where it is and what is wrong. */
export interface SpecIssue {
  /**
   * Dotted path to the offending field, with array indices in brackets and keys that are not identifiers quoted:
   * `spec.resources.memory`, `spec.env[2].name`, `metadata.labels["app.kubernetes.io/name"]`. Empty for the whole
   * document.
   */
  readonly path: string;
  /** What is wrong, as a sentence fragment that reads well after `path: `. */
  readonly message: string;
}

const identifier = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/** Formats a zod path (`['spec', 'env', 2, 'name']`) as `spec.env[2].name`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else {
      const key = String(segment);
      if (identifier.test(key)) out += out === '' ? key : `.${key}`;
      else out += `[${JSON.stringify(key)}]`;
    }
  }
  return out;
}

/** Formats an issue as one line, `path: message` (or the bare message for the whole document). */
export function formatSpecIssue(issue: SpecIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

function describeValue(input: unknown): string {
  if (input === null) return 'null';
  if (Array.isArray(input)) return 'a list';
  switch (typeof input) {
    case 'string':
      return 'a string';
    case 'number':
      return `the number ${input}`;
    case 'boolean':
      return `${input}`;
    case 'object':
      return 'a mapping';
    default:
      return typeof input;
  }
}

const expectedNames: Readonly<Record<string, string>> = {
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  record: 'a mapping',
};

function unitOf(origin: string, count: number | bigint): string {
  const one = count === 1 || count === 1n;
  switch (origin) {
    case 'string':
      return one ? ' character' : ' characters';
    case 'array':
    case 'set':
      return one ? ' item' : ' items';
    default:
      return '';
  }
}

/**
 * The error map `parseEvaluationJob` passes to zod: readable messages for the issues no schema words itself.
 * Schemas that know better (quantities, names, paths) set their own messages, which take precedence.
 */
export const specErrorMap: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'is required';
      const expected = expectedNames[issue.expected] ?? issue.expected;
      // YAML turns unquoted 1.0, yes or 2024-01-01 into numbers, booleans or dates; say how to keep a string.
      const quoteHint =
        issue.expected === 'string' && (typeof issue.input === 'number' || typeof issue.input === 'boolean')
          ? ' (quote it in YAML)'
          : '';
      if (issue.expected === 'int' && typeof issue.input === 'number') return 'must be a whole number';
      return `must be ${expected}, not ${describeValue(issue.input)}${quoteHint}`;
    }
    case 'too_big':
      return issue.origin === 'string' || issue.origin === 'array'
        ? `must have at most ${issue.maximum}${unitOf(issue.origin, issue.maximum)}`
        : `must be at most ${issue.maximum}`;
    case 'too_small':
      if (issue.origin === 'string' && Number(issue.minimum) === 1) return 'must not be empty';
      if (issue.origin === 'array' && Number(issue.minimum) === 1) return 'must not be an empty list';
      return issue.origin === 'string' || issue.origin === 'array'
        ? `must have at least ${issue.minimum}${unitOf(issue.origin, issue.minimum)}`
        : `must be at least ${issue.minimum}`;
    case 'invalid_value':
      return issue.values.length === 1
        ? `must be ${JSON.stringify(issue.values[0])}`
        : `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'invalid_format':
      return 'has an invalid format';
    case 'not_multiple_of':
      return `must be a multiple of ${issue.divisor}`;
    default:
      return undefined;
  }
};

// Fields people reach for out of habit from Kubernetes or other tools, with where the thing actually lives. Keyed by
// field name, or by `parent.field` where the advice only makes sense in one place.
const fieldHints: Readonly<Record<string, string>> = {
  'secretRef.value':
    'a secretRef names a Secret and a key; the secret value itself never goes into a manifest',
  requests: 'requests are set directly on resources (cpu, memory, ephemeralStorage); only limits is nested',
  valueFrom: 'read a Secret with secretRef: {name, key}',
  secretKeyRef: 'read a Secret with secretRef: {name, key}',
  secret: 'write secretRef: {name, key}; a secret value is never written into a manifest',
  password: 'a secret value is never written into a manifest; use a Secret through secretRef',
  token: 'a secret value is never written into a manifest; use a Secret through secretRef',
  timeout: 'the timeout is spec.timeoutSeconds',
  activeDeadlineSeconds: 'the timeout is spec.timeoutSeconds',
  backoffLimit: 'retries are set in spec.retries (maxAttempts, backoffSeconds, transientExitCodes)',
  entrypoint: 'the entrypoint is spec.command',
  workdir: 'the working directory is spec.workingDir',
};

// Optimal string alignment distance: edit distance where a swap of neighbours costs one edit ("memroy").
function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row: number[] = [];
    for (let j = 0; j <= b.length; j++) {
      if (i === 0 || j === 0) {
        row.push(i + j);
        continue;
      }
      const previous = rows[i - 1] ?? [];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min((previous[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[a.length]?.[b.length] ?? Math.max(a.length, b.length);
}

/** The closest known field name to a misspelt one, if it is close enough to be a typo. */
export function suggestField(unknown: string, known: readonly string[]): string | undefined {
  const lower = unknown.toLowerCase();
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = name.toLowerCase() === lower ? 0 : editDistance(lower, name.toLowerCase());
    if (!best || distance < best.distance) best = { name, distance };
  }
  if (!best) return undefined;
  return best.distance <= Math.max(1, Math.floor(unknown.length / 4)) ? best.name : undefined;
}

// Peels wrappers until the schema that gives the value its shape.
function unwrap(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (let depth = 0; depth < 32; depth++) {
    if (
      current instanceof z.ZodOptional ||
      current instanceof z.ZodDefault ||
      current instanceof z.ZodPrefault ||
      current instanceof z.ZodNullable
    ) {
      current = current.unwrap() as z.ZodType;
    } else if (current instanceof z.ZodPipe) {
      current = current.in as z.ZodType;
    } else {
      return current;
    }
  }
  return current;
}

/** The field names the object schema at `path` accepts, or none when `path` does not lead to an object. */
export function knownFieldsAt(root: z.ZodType, path: readonly PropertyKey[]): string[] {
  let current: z.ZodType | undefined = unwrap(root);
  for (const segment of path) {
    if (current instanceof z.ZodObject && typeof segment === 'string') {
      const shape = current.shape as Record<string, z.ZodType | undefined>;
      current = shape[segment];
    } else if (current instanceof z.ZodArray && typeof segment === 'number') {
      current = current.element as z.ZodType;
    } else if (current instanceof z.ZodRecord) {
      current = current.valueType as z.ZodType;
    } else {
      return [];
    }
    if (!current) return [];
    current = unwrap(current);
  }
  return current instanceof z.ZodObject ? Object.keys(current.shape) : [];
}

function unknownFieldMessage(parent: PropertyKey | undefined, key: string, known: readonly string[]): string {
  const hint = (typeof parent === 'string' ? fieldHints[`${parent}.${key}`] : undefined) ?? fieldHints[key];
  if (hint && !known.includes(key)) return `unknown field (${hint})`;
  const suggestion = suggestField(key, known);
  if (suggestion) return `unknown field (did you mean "${suggestion}"?)`;
  return known.length > 0 ? `unknown field (expected one of: ${known.join(', ')})` : 'unknown field';
}

/**
 * Converts a zod error into field-level issues: unknown fields become one issue each at their own path, with a
 * suggestion when the name looks like a typo of a known field; duplicates are dropped.
 * @param root - the schema that produced the error, used to list the fields an object accepts.
 */
export function toSpecIssues(error: z.ZodError, root: z.ZodType): SpecIssue[] {
  const issues: SpecIssue[] = [];
  const seen = new Set<string>();
  const add = (path: readonly PropertyKey[], message: string): void => {
    const issue = { path: formatPath(path), message };
    const key = `${issue.path}\u0000${issue.message}`;
    if (!seen.has(key)) {
      seen.add(key);
      issues.push(issue);
    }
  };
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownFieldsAt(root, issue.path);
      const parent = issue.path[issue.path.length - 1];
      for (const key of issue.keys) add([...issue.path, key], unknownFieldMessage(parent, key, known));
    } else {
      add(issue.path, issue.message);
    }
  }
  return issues;
}
