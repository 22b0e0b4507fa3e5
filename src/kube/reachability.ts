/**
 * Whether one cluster's API server answers (docs/multi-cluster.md, "Spill-over and failover"): a sentinel per
 * cluster that probes it every few seconds while at least one wait needs to know, so a wait can end its attempt once
 * the cluster has been lost for long enough without asking the API server anything itself (every probe serves every
 * waiting attempt of the cluster; a cluster with no wait in progress is not probed at all).
 */
import { context } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeHttpError, openGet } from './clients.js';

/** The default time between two probes. */
export const DEFAULT_REACHABILITY_INTERVAL_MS = 5_000;
/** The default deadline of one probe, far below the 30 s of a call of the generated clients. */
export const DEFAULT_REACHABILITY_TIMEOUT_MS = 3_000;

export interface Reachability {
  /**
   * One more wait needs to know: probing runs while the count is above zero, every `intervalMs` (default: the
   * sentinel's), or more often when an earlier holder asked for a shorter interval.
   */
  acquire(intervalMs?: number): void;
  /** That wait has ended; at zero, probing stops and what was learned is forgotten. */
  release(): void;
  /** When the first probe of the current run of failures started (epoch ms); null while the API server answers. */
  unreachableSince(): number | null;
  /** Why the latest probe failed; null while the API server answers. */
  lastError(): string | null;
  /** Stops probing for good (worker shutdown). */
  stop(): void;
}

export interface ReachabilityOptions {
  /** One probe: resolves when the API server answered, rejects when it did not; should give up on `signal`. */
  readonly probe: (signal: AbortSignal) => Promise<void>;
  /** Time between two probes; the first comes one interval after the first acquire. */
  readonly intervalMs?: number;
  /** Deadline of one probe: one that has not settled by then counts as failed. */
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export function createReachability(options: ReachabilityOptions): Reachability {
  const defaultIntervalMs = options.intervalMs ?? DEFAULT_REACHABILITY_INTERVAL_MS;
  /** The interval of the current run of probing: the shortest any holder asked for. */
  let intervalMs = defaultIntervalMs;
  const timeoutMs = options.timeoutMs ?? DEFAULT_REACHABILITY_TIMEOUT_MS;
  const now = options.now ?? Date.now;
  let holders = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let inFlight = false;
  /** Bumped whenever probing stops, so the answer of a probe from an earlier run is ignored. */
  let generation = 0;
  let since: number | null = null;
  let error: string | null = null;

  const forget = (): void => {
    clearInterval(timer);
    timer = undefined;
    generation++;
    inFlight = false;
    since = null;
    error = null;
    intervalMs = defaultIntervalMs;
  };

  async function probeOnce(): Promise<void> {
    if (inFlight) return;
    inFlight = true;
    const run = generation;
    const startedAt = now();
    const controller = new AbortController();
    let deadline: NodeJS.Timeout | undefined;
    let failure: string | null = null;
    try {
      await Promise.race([
        // Every few seconds while waits run: not traced (a span per probe would only be noise).
        context.with(suppressTracing(context.active()), () => options.probe(controller.signal)),
        new Promise<never>((_, reject) => {
          deadline = setTimeout(() => {
            const timeout = new Error(`no answer within ${timeoutMs / 1000} s`);
            controller.abort(timeout);
            reject(timeout);
          }, timeoutMs);
          deadline.unref();
        }),
      ]);
    } catch (err) {
      failure = controller.signal.aborted ? messageOf(controller.signal.reason) : messageOf(err);
    } finally {
      clearTimeout(deadline);
      controller.abort();
    }
    if (run !== generation) return;
    inFlight = false;
    if (failure === null) {
      since = null;
      error = null;
    } else {
      since ??= startedAt;
      error = failure;
    }
  }

  return {
    acquire(asked) {
      holders++;
      if (stopped) return;
      const wanted = asked !== undefined && asked > 0 ? asked : defaultIntervalMs;
      if (timer !== undefined && wanted >= intervalMs) return;
      // First holder, or one that needs to know sooner: (re)start at the shorter interval.
      if (timer === undefined) intervalMs = wanted;
      else intervalMs = Math.min(intervalMs, wanted);
      clearInterval(timer);
      timer = setInterval(() => void probeOnce(), intervalMs);
      // A sentinel keeps no process alive.
      timer.unref();
    },
    release() {
      if (holders === 0) return;
      holders--;
      if (holders === 0) forget();
    },
    unreachableSince: () => since,
    lastError: () => error,
    stop() {
      stopped = true;
      forget();
    },
  };
}

/**
 * The probe of a cluster's API server: `GET /readyz`. Any answer below 500 counts as reached (a 403 of a cluster whose
 * RBAC hides `/readyz` is an answer); a 5xx answer (not ready, or a proxy in front of an API server that is gone), a
 * network error or no answer in time is a failure.
 */
export function apiServerProbe(config: KubeConfig): (signal: AbortSignal) => Promise<void> {
  return async (signal) => {
    try {
      const response = await openGet(config, '/readyz', {}, signal);
      response.resume();
    } catch (err) {
      if (err instanceof KubeHttpError && err.statusCode < 500) return;
      if (err instanceof KubeHttpError) {
        throw new Error(`GET /readyz answered ${err.statusCode}: ${err.body.trim().slice(0, 200)}`);
      }
      throw err;
    }
  };
}
