/**
 * One event stream per Docker engine and worker (`GET /events`, Assay's containers only), shared by every attempt
 * that waits: `start`, `die` and `oom` decide how an attempt ended, nothing polls. A broken stream is opened again
 * from the time of the last event it delivered, so nothing that happened meanwhile is missed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { labelKeys, managedByValue } from '../../spec/kube-labels.js';
import { parseEvents, type DockerEngine, type EngineEvent } from './engine.js';

type Listener = (event: EngineEvent) => void;

export interface ContainerEvents {
  /**
   * Calls `listener` with every event of container `name` from now on; resolves once the stream is open (so a read
   * of the container's state made after this misses nothing). Returns the function that stops listening.
   */
  listen(name: string, listener: Listener): Promise<() => void>;
  stop(): void;
}

export const watchedActions = ['start', 'die', 'oom'] as const;

export function createContainerEvents(engine: DockerEngine): ContainerEvents {
  const listeners = new Map<string, Set<Listener>>();
  const stopped = new AbortController();
  let lastNano: number | null = null;
  let open: Promise<void> | null = null;
  let opened!: () => void;

  async function follow(): Promise<void> {
    let delay = 250;
    while (!stopped.signal.aborted) {
      try {
        const since = lastNano === null ? undefined : (lastNano / 1e9).toFixed(9);
        const res = await engine.stream('/events', {
          query: {
            since,
            filters: JSON.stringify({
              type: ['container'],
              event: watchedActions,
              label: [`${labelKeys.managedBy}=${managedByValue}`],
            }),
          },
          signal: stopped.signal,
        });
        opened();
        delay = 250;
        for await (const event of parseEvents(res)) {
          lastNano = Math.max(lastNano ?? 0, event.timeNano);
          const name = event.Actor.Attributes.name;
          if (name === undefined) continue;
          for (const listener of listeners.get(name) ?? []) listener(event);
        }
      } catch {
        if (stopped.signal.aborted) return;
      }
      // The stream ended or broke: open it again from the last event seen (or from now).
      lastNano ??= Date.now() * 1e6;
      await sleep(delay, undefined, { signal: stopped.signal }).catch(() => undefined);
      delay = Math.min(delay * 2, 5000);
    }
  }

  return {
    async listen(name, listener) {
      let set = listeners.get(name);
      if (set === undefined) listeners.set(name, (set = new Set()));
      set.add(listener);
      if (open === null) {
        open = new Promise<void>((resolve) => (opened = resolve));
        void follow();
      }
      await open;
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(name);
      };
    },
    stop() {
      stopped.abort();
    },
  };
}
