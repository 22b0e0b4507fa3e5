/** SharedWatch against a scripted fake watch: one connection for many subscribers, cache replay, vanished objects. */
import { describe, expect, it } from '@jest/globals';
import { SharedWatch } from '../../../src/kube/shared-watch.js';
import type { Watcher, WatchEventType } from '../../../src/kube/watch.js';

interface Pod {
  metadata: { name: string; resourceVersion: string; labels: { key: string } };
  phase?: string;
}

const pod = (name: string, key: string, rv: string, phase = 'Pending'): Pod => ({
  metadata: { name, resourceVersion: rv, labels: { key } },
  phase,
});

type Send = (type: string, object: unknown) => void;

/** A watch whose connections stay open; the test sends events on the latest one. */
class OpenWatch implements Watcher {
  readonly requests: Record<string, unknown>[] = [];
  private sends: Send[] = [];
  private dones: ((err: unknown) => void)[] = [];

  watch(
    _path: string,
    query: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.requests.push(query);
    this.sends.push(callback);
    this.dones.push(done);
    return Promise.resolve(new AbortController());
  }

  send(type: string, object: unknown): void {
    this.sends.at(-1)!(type, object);
  }

  /** Ends the latest connection with 410 Gone. */
  gone(): void {
    this.sends.at(-1)!('ERROR', { code: 410, message: 'too old' });
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(lists: Pod[][]) {
  const watch = new OpenWatch();
  let listCalls = 0;
  const shared = new SharedWatch<Pod>({
    watch,
    target: {
      path: '/api/v1/namespaces/ns/pods',
      query: { labelSelector: 'managed' },
      list: () => {
        const items = lists[Math.min(listCalls, lists.length - 1)]!;
        listCalls++;
        return Promise.resolve({ items, resourceVersion: String(100 + listCalls) });
      },
    },
    keyOf: (p) => p.metadata.labels.key,
    idleMs: 10,
  });
  return { watch, shared, lists: () => listCalls };
}

function collect(): {
  seen: [string, WatchEventType, string | undefined][];
  listener: (p: Pod, t: WatchEventType) => void;
} {
  const seen: [string, WatchEventType, string | undefined][] = [];
  return { seen, listener: (p, t) => seen.push([p.metadata.name, t, p.phase]) };
}

describe('SharedWatch', () => {
  it('serves many subscribers from one list and one watch, each only its own key', async () => {
    const { watch, shared, lists } = setup([[pod('a-1', 'a', '1'), pod('b-1', 'b', '2')]]);
    const a = collect();
    const b = collect();
    const offA = shared.subscribe('a', a.listener);
    await tick();
    const offB = shared.subscribe('b', b.listener);
    await tick();
    watch.send('MODIFIED', pod('a-1', 'a', '3', 'Running'));
    watch.send('ADDED', pod('c-1', 'c', '4'));
    expect(lists()).toBe(1);
    expect(watch.requests).toHaveLength(1);
    expect(a.seen).toEqual([
      ['a-1', 'LISTED', 'Pending'],
      ['a-1', 'MODIFIED', 'Running'],
    ]);
    // The late subscriber got the cached state at once.
    expect(b.seen).toEqual([['b-1', 'LISTED', 'Pending']]);
    offA();
    offB();
    shared.stop();
  });

  it('after a 410 lists again and reports objects that vanished meanwhile as DELETED', async () => {
    const { watch, shared, lists } = setup([[pod('a-1', 'a', '1')], []]);
    const a = collect();
    const off = shared.subscribe('a', a.listener);
    await tick();
    watch.gone();
    await tick();
    await tick();
    expect(lists()).toBe(2);
    expect(a.seen).toEqual([
      ['a-1', 'LISTED', 'Pending'],
      ['a-1', 'DELETED', 'Pending'],
    ]);
    off();
    shared.stop();
  });

  it('stops watching once idle and starts again with a fresh list on the next subscriber', async () => {
    const { shared, lists } = setup([[pod('a-1', 'a', '1')]]);
    const off = shared.subscribe('a', () => undefined);
    await tick();
    off();
    await new Promise((r) => setTimeout(r, 30));
    const again = collect();
    const off2 = shared.subscribe('a', again.listener);
    await tick();
    expect(lists()).toBe(2);
    expect(again.seen).toEqual([['a-1', 'LISTED', 'Pending']]);
    off2();
    shared.stop();
  });

  it('until: decides from the cache, then stops listening; a later event is not seen', async () => {
    const { watch, shared, lists } = setup([[pod('a-1', 'a', '1', 'Running')]]);
    const warm = shared.subscribe('b', () => undefined);
    await tick();
    let calls = 0;
    const decided = await shared.until(
      'a',
      (p) => {
        calls++;
        return p.phase === 'Running' ? p.metadata.name : null;
      },
      new AbortController().signal,
    );
    watch.send('MODIFIED', pod('a-1', 'a', '2', 'Succeeded'));
    expect(decided).toBe('a-1');
    expect(calls).toBe(1);
    expect(lists()).toBe(1);
    warm();
    shared.stop();
  });

  it('until: waits for a matching event and rejects with the reason when aborted', async () => {
    const { watch, shared } = setup([[pod('a-1', 'a', '1')]]);
    const done = shared.until(
      'a',
      (p) => (p.phase === 'Succeeded' ? p.phase : null),
      new AbortController().signal,
    );
    await tick();
    watch.send('MODIFIED', pod('a-1', 'a', '2', 'Succeeded'));
    await expect(done).resolves.toBe('Succeeded');

    const abort = new AbortController();
    const waiting = shared.until('a', () => null, abort.signal);
    abort.abort(new Error('stop'));
    await expect(waiting).rejects.toThrow('stop');
    shared.stop();
  });
});
