/**
 * zod building blocks of the EvaluationJob schema: strings checked by a Kubernetes rule, bounded integers, strings
 * passed to the container verbatim, paths relative to a shared directory, duplicate checks for lists, and maps of
 * label-style keys. Each reports a message that names the problem; the schema adds the field path.
 */
import { z } from 'zod';
import { checkQualifiedName, quote } from './kubernetes-rules.js';
import { specLimits } from './spec-constants.js';

/** A check of one string against a rule: a message naming the problem, or `undefined` when it passes. */
export type Check = (value: string) => string | undefined;

/** A string validated by a Kubernetes rule; the regex is also published in the JSON Schema. */
export function ruleString(pattern: string, maxLength: number, check: Check): z.ZodString {
  return z
    .string()
    .min(1, { abort: true })
    .max(maxLength, { abort: true })
    .regex(new RegExp(pattern), { error: (issue) => check(String(issue.input)) ?? 'has an invalid format' });
}

/** How an input of the wrong type is described in a message: a quoted string, a number, "a list", "a mapping". */
export function describeInput(input: unknown): string {
  if (typeof input === 'string') return quote(input);
  if (typeof input === 'number' || typeof input === 'boolean' || input === null) return String(input);
  return Array.isArray(input) ? 'a list' : 'a mapping';
}

/** A bounded integer. */
export function integer(min: number, max: number) {
  // zod reports a string given for an integer as "expected number"; every number in the spec is an integer.
  const error = (issue: { input?: unknown }) =>
    issue.input === undefined || typeof issue.input === 'number'
      ? undefined
      : `must be an integer, not ${describeInput(issue.input)}`;
  return z.int({ error }).min(min).max(max);
}

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const controlCharacters = /[\u0000-\u001f\u007f]/;

/** A string passed to the container verbatim: bounded, and free of NUL, which no argv or environment can hold. */
export function verbatimString(maxLength: number) {
  return z
    .string()
    .max(maxLength, { abort: true })
    .refine((value) => !value.includes('\u0000'), { error: 'must not contain a NUL character' });
}

export interface PathRules {
  /** The directory paths are relative to and its environment variable, for messages. */
  readonly base: string;
  readonly envVar: string;
  /** A result path must name one file; artifact paths may name directories and use globs. */
  readonly file: boolean;
}

/**
 * A path relative to one of the shared directories. Relative, because only those emptyDirs are visible to the
 * collector; never `..`, so nothing outside them can be reached; normalised, so `./a//b/` and `a/b` are one path.
 */
export function relativePath(rules: PathRules) {
  return z
    .string()
    .min(1, { abort: true })
    .max(specLimits.pathLength, { abort: true })
    .transform((value, ctx) => {
      const fail = (message: string): never => {
        ctx.addIssue({ code: 'custom', message, input: value });
        return z.NEVER;
      };
      if (controlCharacters.test(value)) return fail('must not contain control characters');
      if (value.includes('\\')) return fail('must use "/" to separate directories');
      if (value.startsWith('/')) {
        return fail(`${quote(value)} must be relative to ${rules.envVar} (${rules.base}), not absolute`);
      }
      const segments = value.split('/');
      if (segments.includes('..')) return fail(`${quote(value)} must not contain ".."`);
      const normalised = segments.filter((segment) => segment !== '' && segment !== '.').join('/');
      if (rules.file) {
        if (normalised === '' || value.endsWith('/')) return fail(`${quote(value)} must name a file`);
        if (/[*?[\]]/.test(normalised)) return fail(`${quote(value)} must name one file, not a pattern`);
      }
      return normalised === '' ? '.' : normalised;
    });
}

// Checks that should report even when a sibling value is invalid, so one run lists every problem. They see the value
// as parsed so far, in which invalid entries may still be raw input, hence the defensive reading; they only need the
// container itself to have the right type.
export const evenWithOtherIssues = { when: (payload: { value: unknown }) => Array.isArray(payload.value) };
export const evenWithOtherIssuesInMap = {
  when: (payload: { value: unknown }) =>
    typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value),
};

/**
 * A refinement that flags duplicates in a list at the later occurrence, naming the earlier one.
 * @param keyOf - the identity of an item, or `undefined` for an item that is not valid enough to have one.
 */
export function noDuplicates(
  keyOf: (item: unknown) => string | undefined,
  describe: (key: string, first: number) => string,
  field?: string,
) {
  return (list: readonly unknown[], ctx: z.RefinementCtx): void => {
    const first = new Map<string, number>();
    list.forEach((item, index) => {
      const key = keyOf(item);
      if (key === undefined) return;
      const earlier = first.get(key);
      if (earlier === undefined) first.set(key, index);
      else
        ctx.addIssue({
          code: 'custom',
          message: describe(key, earlier),
          path: field ? [index, field] : [index],
        });
    });
  };
}

/** The item itself when it is a string: the identity of list items for {@link noDuplicates}. */
export const asString = (item: unknown): string | undefined => (typeof item === 'string' ? item : undefined);

export interface StringMapRules {
  readonly what: string;
  readonly maxEntries: number;
  readonly checkValue?: Check;
  readonly maxTotalLength?: number;
}

/** A map of Kubernetes label-style keys to strings (labels, annotations, label selectors). */
export function stringMap(rules: StringMapRules) {
  return z.record(z.string(), z.string()).superRefine((map, ctx) => {
    const entries = Object.entries(map as Record<string, unknown>);
    if (entries.length > rules.maxEntries) {
      ctx.addIssue({ code: 'custom', message: `must have at most ${rules.maxEntries} entries` });
    }
    let total = 0;
    for (const [key, value] of entries) {
      const text = typeof value === 'string' ? value : undefined;
      total += key.length + (text?.length ?? 0);
      const problem =
        checkQualifiedName(key, `${rules.what} key`) ??
        (text === undefined ? undefined : rules.checkValue?.(text));
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [key] });
    }
    if (rules.maxTotalLength !== undefined && total > rules.maxTotalLength) {
      ctx.addIssue({
        code: 'custom',
        message: `must be at most ${rules.maxTotalLength} characters in total`,
      });
    }
  }, evenWithOtherIssuesInMap);
}
