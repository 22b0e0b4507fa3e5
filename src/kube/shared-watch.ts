/**
 * One watch per namespace and kind, shared by every activity of this process that waits on an object of it: a
 * worker waiting for 50 evaluations in a team's namespace holds one pod watch, not 50 lists and 50 watches.
 *
 * The watch keeps a cache of what it has seen. A subscriber gets the cached objects of its key at once (as `LISTED`),
 * then every change. After a 410 the collection is listed again and objects that vanished meanwhile are delivered as
 * `DELETED`. The watch stops once it has had no subscriber for `idleMs`.
 */
import { watchUntil, type WatchEventType, type Watcher, type WatchTarget } from './watch.js';

export interface Named {
  metadata?: { name?: string; namespace?: string; resourceVersion?: string };
}

export type WatchListener<T> = (object: T, type: WatchEventType) => void;

export interface SharedWatchOptions<T extends Named> {
  readonly watch: Watcher;
  readonly target: WatchTarget<T>;
  /** The subscription key an object belongs to (null: nobody's). */
  readonly keyOf: (object: T) => string | null;
  /** How long the watch stays open without subscribers (default 60 s). */
  readonly idleMs?: number;
  /** Pause before listing again after the list failed (default 1 s). */
  readonly retryDelayMs?: number;
  /** Reports a failed list (the watch retries). */
  readonly onError?: (err: unknown) => void;
}

export class SharedWatch<T extends Named> {
  private readonly cache = new Map<string, T>();
  private readonly listeners = new Map<string, Set<WatchListener<T>>>();
  private subscribers = 0;
  private running: AbortController | null = null;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: SharedWatchOptions<T>) {}

  /** Subscribes to the objects of `key`; returns the unsubscribe function. */
  subscribe(key: string, listener: WatchListener<T>): () => void {
    let set = this.listeners.get(key);
    if (set === undefined) this.listeners.set(key, (set = new Set()));
    set.add(listener);
    this.subscribers++;
    clearTimeout(this.idleTimer);
    for (const object of this.cache.values()) {
      if (this.options.keyOf(object) === key) listener(object, 'LISTED');
    }
    if (this.running === null) this.start();
    let active = true;
    return () => {
      if (!active) return;
      active = false;
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(key);
      if (--this.subscribers === 0) {
        this.idleTimer = setTimeout(() => this.stop(), this.options.idleMs ?? 60_000);
        this.idleTimer.unref();
      }
    };
  }

  /**
   * Resolves with the first non-null decision over the objects of `key` (cached ones first), then unsubscribes.
   *
   * @throws the abort reason when `signal` aborts first.
   */
  until<R>(
    key: string,
    decide: (object: T, type: WatchEventType) => R | null,
    signal: AbortSignal,
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      if (signal.aborted) {
        reject(signal.reason as Error);
        return;
      }
      let done = false;
      // Filled once subscribe returns; a decision from the cache comes before that.
      const subscription: { off?: () => void } = {};
      const settle = (): void => {
        done = true;
        signal.removeEventListener('abort', onAbort);
        subscription.off?.();
      };
      const onAbort = (): void => {
        settle();
        reject(signal.reason as Error);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      subscription.off = this.subscribe(key, (object, type) => {
        if (done) return;
        const decision = decide(object, type);
        if (decision === null) return;
        settle();
        resolve(decision);
      });
      // Decided from the cache while subscribing, before `off` existed.
      if (done) subscription.off();
    });
  }

  /** The cached objects of `key` (none while the watch is not running). */
  cached(key: string): T[] {
    if (this.running === null) return [];
    return [...this.cache.values()].filter((object) => this.options.keyOf(object) === key);
  }

  /** Stops watching and forgets the cache. */
  stop(): void {
    clearTimeout(this.idleTimer);
    this.running?.abort();
    this.running = null;
    this.cache.clear();
  }

  private dispatch(object: T, type: WatchEventType): void {
    const key = this.options.keyOf(object);
    if (key === null) return;
    for (const listener of [...(this.listeners.get(key) ?? [])]) listener(object, type);
  }

  private start(): void {
    const controller = new AbortController();
    this.running = controller;
    const target: WatchTarget<T> = {
      path: this.options.target.path,
      query: this.options.target.query,
      list: async () => {
        const listed = await this.options.target.list();
        const present = new Set(listed.items.map((item) => item.metadata?.name));
        for (const [name, object] of [...this.cache]) {
          if (!present.has(name)) {
            this.cache.delete(name);
            this.dispatch(object, 'DELETED');
          }
        }
        return listed;
      },
    };
    const loop = async (): Promise<void> => {
      while (!controller.signal.aborted) {
        try {
          await watchUntil<T, never>(
            this.options.watch,
            target,
            (object, type) => {
              const name = object.metadata?.name;
              if (name !== undefined) {
                if (type === 'DELETED') this.cache.delete(name);
                else this.cache.set(name, object);
              }
              this.dispatch(object, type);
              return null;
            },
            { signal: controller.signal },
          );
        } catch (err) {
          if (controller.signal.aborted) return;
          this.options.onError?.(err);
          await new Promise((r) => setTimeout(r, this.options.retryDelayMs ?? 1000).unref());
        }
      }
    };
    void loop();
  }
}

/** Shared watches by key (e.g. `pods/<namespace>`), created on first use. */
export class SharedWatches {
  private readonly watches = new Map<string, SharedWatch<Named>>();

  get<T extends Named>(key: string, create: () => SharedWatchOptions<T>): SharedWatch<T> {
    let found = this.watches.get(key) as SharedWatch<T> | undefined;
    if (found === undefined) {
      found = new SharedWatch<T>(create());
      this.watches.set(key, found as unknown as SharedWatch<Named>);
    }
    return found;
  }

  /** Stops every watch (worker shutdown). */
  stopAll(): void {
    for (const w of this.watches.values()) w.stop();
    this.watches.clear();
  }
}
