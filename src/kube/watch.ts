/**
 * Watch a Kubernetes collection until a decision is reached: list once, then watch from the list's resourceVersion,
 * resume from the last resourceVersion seen when the connection closes, re-list on 410 Gone. Never polls.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Watch } from '@kubernetes/client-node';

/** What {@link watchUntil} needs of `@kubernetes/client-node`'s `Watch` (a seam for tests). */
export type Watcher = Pick<Watch, 'watch'>;

export type WatchEventType = 'LISTED' | 'ADDED' | 'MODIFIED' | 'DELETED';

interface KubeObject {
  metadata?: { resourceVersion?: string };
}

export interface WatchTarget<T extends KubeObject> {
  /** Collection path, e.g. `/api/v1/namespaces/ns/pods`. */
  readonly path: string;
  /** Selector parameters (`labelSelector`, `fieldSelector`). */
  readonly query: Readonly<Record<string, string>>;
  /** Lists the same collection (with the same selectors). */
  list(): Promise<{ items: T[]; resourceVersion: string }>;
}

export interface WatchUntilOptions {
  readonly signal: AbortSignal;
  /** Called with every resourceVersion seen (for heartbeats). */
  readonly onResourceVersion?: (resourceVersion: string) => void;
  /** Called when the collection is listed again (counts, tests). */
  readonly onRelist?: () => void;
  /** Server-side timeout of each watch request; below the client's 30 s inactivity timer. */
  readonly timeoutSeconds?: number;
  /** Pause before reconnecting after an error. */
  readonly reconnectDelayMs?: number;
  /** How to pause (tests pass their own); resolves early or rejects when `signal` aborts. */
  readonly delay?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** A resourceVersion to start watching from instead of listing first. */
  readonly resumeFrom?: string | null;
}

type Round<R> = { kind: 'decided'; value: R } | { kind: 'gone' } | { kind: 'closed'; error: unknown };

function abortError(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('aborted');
}

/**
 * Resolves with the first non-null decision over the listed objects and the watch events that follow.
 *
 * @throws the abort reason when `signal` aborts; the list's errors.
 */
export async function watchUntil<T extends KubeObject, R>(
  watch: Watcher,
  target: WatchTarget<T>,
  decide: (object: T, type: WatchEventType) => R | null,
  options: WatchUntilOptions,
): Promise<R> {
  const { signal } = options;
  let resourceVersion: string | null = options.resumeFrom ?? null;
  const seen = (rv: string | undefined): void => {
    if (rv === undefined || rv === '') return;
    resourceVersion = rv;
    options.onResourceVersion?.(rv);
  };

  for (;;) {
    if (signal.aborted) throw abortError(signal);
    if (resourceVersion === null) {
      options.onRelist?.();
      const listed = await target.list();
      for (const item of listed.items) {
        const decision = decide(item, 'LISTED');
        if (decision !== null) return decision;
      }
      seen(listed.resourceVersion);
    }
    const from = resourceVersion;
    const round = await new Promise<Round<R>>((resolve) => {
      let settled = false;
      let controller: AbortController | undefined;
      const finish = (result: Round<R>): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        resolve(result);
      };
      const onAbort = (): void => finish({ kind: 'closed', error: abortError(signal) });
      signal.addEventListener('abort', onAbort, { once: true });
      watch
        .watch(
          target.path,
          {
            ...target.query,
            resourceVersion: from ?? undefined,
            allowWatchBookmarks: true,
            timeoutSeconds: options.timeoutSeconds ?? 25,
          },
          (type: string, object: unknown) => {
            if (settled) return;
            if (type === 'ERROR') {
              const status = object as { code?: number; message?: string };
              if (status.code === 410) finish({ kind: 'gone' });
              else finish({ kind: 'closed', error: new Error(status.message ?? 'watch error') });
              return;
            }
            const typed = object as T;
            if (type === 'BOOKMARK') {
              seen(typed.metadata?.resourceVersion);
              return;
            }
            const decision = decide(typed, type as WatchEventType);
            seen(typed.metadata?.resourceVersion);
            if (decision !== null) finish({ kind: 'decided', value: decision });
          },
          (err: unknown) => finish({ kind: 'closed', error: err }),
        )
        .then(
          (c) => {
            controller = c;
            if (settled) c.abort();
          },
          (err: unknown) => finish({ kind: 'closed', error: err }),
        );
    });
    if (round.kind === 'decided') return round.value;
    if (signal.aborted) throw abortError(signal);
    if (round.kind === 'gone' || (round.error as { statusCode?: number } | null)?.statusCode === 410) {
      resourceVersion = null;
      continue;
    }
    if (round.error !== null && round.error !== undefined) {
      // A dropped connection or an API server restart: resume from where we were after a short pause.
      const delay = options.delay ?? ((ms: number, s: AbortSignal) => sleep(ms, undefined, { signal: s }));
      await delay(options.reconnectDelayMs ?? 1000, signal).catch(() => undefined);
    }
  }
}
