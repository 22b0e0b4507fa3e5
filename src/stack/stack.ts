import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Component, ComponentStatus, Reporter, StackContext, UpOutcome } from './component.js';
import { stackComponents } from './components.js';
import { loadStackConfig } from './config.js';
import { mergeEnvs, type StackEnvironment } from './env.js';
import { StackConfigError, UnknownComponentError } from './errors.js';
import { kubernetesClusterComponent } from './kube/component.js';
import { kubeLayout, STACK_CLUSTERS, stackCluster, type ClusterSpec } from './kube/layout.js';
import { nodeNetnsExists } from './kube/netns.js';
import { withFileLock } from './lock.js';
import { stackPaths } from './paths.js';

/** Options shared by the programmatic stack API. */
export interface StackOptions {
  /** Component names to act on, in any order (they run in stack order); default `ASSAY_STACK_COMPONENTS` or all. */
  readonly components?: readonly string[];
  /** The environment to read configuration from; default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Where progress lines go; default stderr. */
  readonly reporter?: Reporter;
  readonly signal?: AbortSignal;
  /**
   * The clusters to act on (`--clusters local,b`): `local` stands for the whole stack as without this option (its
   * cluster and every other component), any other name for that cluster's own component (`kubernetes-b`). Default:
   * `local`; `down` and `status` without components or clusters also take in every other cluster that runs.
   */
  readonly clusters?: readonly string[];
}

/** A reporter that writes `[stack] …` lines to stderr (stdout stays clean for `env`). */
export const stderrReporter: Reporter = {
  info: (line) => process.stderr.write(`[stack] ${line}\n`),
  warn: (line) => process.stderr.write(`[stack] warning: ${line}\n`),
};

/**
 * Builds the context components receive.
 *
 * @throws {StackConfigError} when the environment is invalid.
 */
export function createStackContext(options: StackOptions = {}): StackContext {
  const config = loadStackConfig(options.env ?? process.env);
  return {
    config,
    paths: stackPaths(config.cacheRoot),
    reporter: options.reporter ?? stderrReporter,
    ...(options.signal ? { signal: options.signal } : {}),
  };
}

/**
 * The selected components in stack order: those of `local` (when `clusters` names it, or is not given), then each
 * other cluster's own component in the order `clusters` names them.
 *
 * @throws {UnknownComponentError} for a name that is not registered.
 * @throws {StackConfigError} for a cluster the stack does not know.
 */
export function selectComponents(
  ctx: StackContext,
  names: readonly string[] | undefined,
  clusters?: readonly string[],
): Component[] {
  const others = otherClusters(clusters).map(kubernetesClusterComponent);
  if (clusters !== undefined && !clusters.includes('local')) return others;
  const all = stackComponents();
  const wanted = names && names.length > 0 ? names : ctx.config.components;
  if (!wanted || wanted.length === 0) return [...all, ...others];
  const known = all.map((c) => c.name);
  for (const name of wanted) if (!known.includes(name)) throw new UnknownComponentError(name, known);
  return [...all.filter((c) => wanted.includes(c.name)), ...others];
}

/**
 * The clusters other than `local` that `clusters` names.
 *
 * @throws {StackConfigError} for a name the stack does not know, or an empty list.
 */
function otherClusters(clusters: readonly string[] | undefined): ClusterSpec[] {
  if (clusters === undefined) return [];
  const known = STACK_CLUSTERS.map((c) => c.name);
  const problems = clusters
    .filter((n) => stackCluster(n) === undefined)
    .map((n) => `--clusters: unknown cluster "${n}" (known: ${known.join(', ')})`);
  if (clusters.length === 0) problems.push(`--clusters: name at least one cluster (${known.join(', ')})`);
  if (problems.length > 0) throw new StackConfigError(problems);
  return STACK_CLUSTERS.filter((c) => c.name !== 'local' && clusters.includes(c.name));
}

/**
 * The clusters `down` and `status` act on: those given, else — when no component is named either — `local` and every
 * other cluster that runs (its node's namespace exists or its state directory holds a pidfile).
 */
async function clustersInUse(
  ctx: StackContext,
  options: StackOptions,
): Promise<readonly string[] | undefined> {
  if (options.clusters !== undefined) return options.clusters;
  if ((options.components?.length ?? 0) > 0 || ctx.config.components !== undefined) return undefined;
  const running: string[] = [];
  for (const c of STACK_CLUSTERS) {
    if (!c.netns) continue;
    const pidfiles = (await readdir(kubeLayout(ctx.paths, c).dir).catch(() => [])).filter((f) =>
      f.endsWith('.pid'),
    );
    if (pidfiles.length > 0 || (await nodeNetnsExists(c.netns))) running.push(c.name);
  }
  return running.length > 0 ? ['local', ...running] : undefined;
}

/** What {@link stackUp} did. */
export interface StackUpResult {
  /** Per component: `started`, `reused` or `external`. */
  readonly outcomes: Readonly<Record<string, UpOutcome>>;
  /** Components this call started processes for — the ones a caller that wants to clean up should stop. */
  readonly started: readonly string[];
  /** The environment to use the stack with (what `stack env` prints). */
  readonly env: StackEnvironment;
  readonly durationMs: number;
}

/**
 * Brings the stack up: builds what is missing, starts what does not run, reuses what does, leaves the user's own
 * servers alone. Holds a machine-wide lock, so concurrent callers run one after the other and the later ones reuse.
 *
 * @throws {StackError} (a subclass with a `code`) when a component cannot be brought up; components before it stay up.
 */
export async function stackUp(options: StackOptions = {}): Promise<StackUpResult> {
  const started = Date.now();
  const ctx = createStackContext(options);
  const components = selectComponents(ctx, options.components, options.clusters);
  return withFileLock(
    join(ctx.paths.locksDir, 'stack'),
    async () => {
      const outcomes: Record<string, UpOutcome> = {};
      for (const component of components) {
        ctx.signal?.throwIfAborted();
        outcomes[component.name] = await component.up(ctx);
      }
      const env = mergeEnvs(await Promise.all(components.map((c) => c.env(ctx))));
      return {
        outcomes,
        started: components.filter((c) => outcomes[c.name] === 'started').map((c) => c.name),
        env,
        durationMs: Date.now() - started,
      };
    },
    {
      onWait: () => ctx.reporter.info('waiting for another `stack up`/`down` to finish'),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    },
  );
}

/**
 * Stops what the stack started, last component first. Every component is attempted even when one fails.
 *
 * @throws {AggregateError} of the components' errors when any failed.
 */
export async function stackDown(options: StackOptions = {}): Promise<void> {
  const ctx = createStackContext(options);
  const components = selectComponents(ctx, options.components, await clustersInUse(ctx, options)).reverse();
  await withFileLock(
    join(ctx.paths.locksDir, 'stack'),
    async () => {
      const errors: unknown[] = [];
      for (const component of components) {
        try {
          await component.down(ctx);
        } catch (err) {
          ctx.reporter.warn(`${component.name}: ${err instanceof Error ? err.message : String(err)}`);
          errors.push(err);
        }
      }
      if (errors.length > 0)
        throw new AggregateError(errors, `stack down: ${errors.length} component(s) failed`);
    },
    {
      onWait: () => ctx.reporter.info('waiting for another `stack up`/`down` to finish'),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    },
  );
}

/** The status of the stack. */
export interface StackStatusReport {
  readonly healthy: boolean;
  readonly components: readonly ({ readonly name: string } & ComponentStatus)[];
}

/** Checks every selected component (concurrently). Never throws for an unhealthy component. */
export async function stackStatus(options: StackOptions = {}): Promise<StackStatusReport> {
  const ctx = createStackContext(options);
  const components = selectComponents(ctx, options.components, await clustersInUse(ctx, options));
  const statuses = await Promise.all(
    components.map(async (c) => {
      try {
        return { name: c.name, ...(await c.status(ctx)) };
      } catch (err) {
        return {
          name: c.name,
          healthy: false,
          managed: true,
          detail: err instanceof Error ? err.message : String(err),
        };
      }
    }),
  );
  return { healthy: statuses.every((s) => s.healthy), components: statuses };
}

/** The environment to use the stack with; starts nothing. */
export async function stackEnv(options: StackOptions = {}): Promise<StackEnvironment> {
  const ctx = createStackContext(options);
  const components = selectComponents(ctx, options.components, options.clusters);
  return mergeEnvs(await Promise.all(components.map((c) => c.env(ctx))));
}
