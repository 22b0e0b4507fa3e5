import { delimiter } from 'node:path';
import type { ComponentEnv } from './component.js';

/** The environment the whole stack contributes: variables plus directories to put in front of `PATH`. */
export interface StackEnvironment {
  readonly vars: Readonly<Record<string, string>>;
  readonly pathPrepend: readonly string[];
}

/** Merges components' environments in stack order; a later component's variable wins, PATH entries are deduplicated. */
export function mergeEnvs(envs: readonly ComponentEnv[]): StackEnvironment {
  const vars: Record<string, string> = {};
  const pathPrepend: string[] = [];
  for (const env of envs) {
    Object.assign(vars, env.vars);
    for (const dir of env.pathPrepend ?? []) if (!pathPrepend.includes(dir)) pathPrepend.push(dir);
  }
  return { vars, pathPrepend };
}

/** Quotes a value for POSIX shells: single quotes, with embedded single quotes closed, escaped and reopened. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/**
 * Renders `export` lines for `eval "$(npm run --silent stack -- env)"`. Variables come sorted, so the output is
 * stable; PATH entries are prepended to the caller's `$PATH` at eval time, not baked in.
 */
export function renderExports(env: StackEnvironment): string {
  const lines = Object.keys(env.vars)
    .sort()
    .map((name) => `export ${name}=${shellQuote(env.vars[name] ?? '')}`);
  if (env.pathPrepend.length > 0) {
    lines.push(`export PATH=${shellQuote(env.pathPrepend.join(delimiter))}"\${PATH:+${delimiter}$PATH}"`);
  }
  return lines.length > 0 ? `${lines.join('\n')}\n` : '';
}

/**
 * Applies a stack environment to an environment object (by default this process's), e.g. in Jest's global setup so
 * tests and the processes they spawn see the stack. PATH entries already present are not added twice.
 */
export function applyStackEnv(
  env: StackEnvironment,
  target: Record<string, string | undefined> = process.env,
): void {
  Object.assign(target, env.vars);
  if (env.pathPrepend.length === 0) return;
  const current = (target.PATH ?? '').split(delimiter).filter((p) => p !== '');
  const missing = env.pathPrepend.filter((p) => !current.includes(p));
  target.PATH = [...missing, ...current].join(delimiter);
}
