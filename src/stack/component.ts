import type { StackConfig } from './config.js';
import type { StackPaths } from './paths.js';

/** Where progress lines go. The CLI and the Jest global setup print them to stderr. */
export interface Reporter {
  /** A progress line, e.g. `building temporal 1.5.1 (2 min so far)`. */
  info(line: string): void;
  /** Something the user should know about that did not stop us, e.g. a stale pidfile that was cleared. */
  warn(line: string): void;
}

/** What every component gets: configuration, paths and a reporter. Built once per `up`/`down`/`status`/`env`. */
export interface StackContext {
  readonly config: StackConfig;
  readonly paths: StackPaths;
  readonly reporter: Reporter;
  readonly signal?: AbortSignal;
}

/**
 * What `up` did for a component:
 * - `started` — it started at least one process (so a test run that did this may stop it again),
 * - `reused` — everything already ran and was healthy,
 * - `external` — the user points at their own server; nothing was touched.
 */
export type UpOutcome = 'started' | 'reused' | 'external';

/** One line of `stack status`. */
export interface ComponentStatus {
  readonly healthy: boolean;
  /** Where it listens, e.g. `127.0.0.1:17233`; absent when not configured. */
  readonly address?: string;
  /** True when the stack runs it; false when it is the user's own server. */
  readonly managed: boolean;
  /** A short human-readable account: pids, what is missing, why it is unhealthy. */
  readonly detail: string;
}

/** Environment a component contributes: variables and directories to put in front of `PATH`. */
export interface ComponentEnv {
  readonly vars: Readonly<Record<string, string>>;
  /** Directories prepended to `PATH`, e.g. where `kubectl` lives. */
  readonly pathPrepend?: readonly string[];
}

/**
 * A piece of the local stack (Temporal, S3, Kubernetes, …). Components are registered in order in
 * `components.ts`: `up` runs them in that order, `down` in reverse, so a component may rely on the ones before it.
 *
 * Contract:
 * - `up` is idempotent: when everything runs and is healthy it returns `reused` quickly; it clears stale state of a
 *   killed earlier run; it returns only once the component is healthy (or throws).
 * - `down` stops exactly the processes this component's `up` started (by pidfile) and nothing else; it succeeds when
 *   nothing runs.
 * - `status` never throws for an unhealthy or absent component; it says so in the result.
 * - `env` is cheap and does not start anything.
 */
export interface Component {
  readonly name: string;
  /** One line for `stack status --help` and the README. */
  readonly description: string;
  up(ctx: StackContext): Promise<UpOutcome>;
  down(ctx: StackContext): Promise<void>;
  status(ctx: StackContext): Promise<ComponentStatus>;
  env(ctx: StackContext): Promise<ComponentEnv>;
}
