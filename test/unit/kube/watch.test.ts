/** watchUntil against a scripted fake of the API server's watch: re-list on 410, reconnect, resume. */
import { describe, expect, it } from '@jest/globals';
import { watchUntil, type Watcher, type WatchEventType } from '../../../src/kube/watch.js';

interface Obj {
  metadata: { name: string; resourceVersion: string };
  ready?: boolean;
}

const obj = (name: string, rv: string, ready = false): Obj => ({
  metadata: { name, resourceVersion: rv },
  ready,
});

/** What one watch connection does: send events, then end (with an error or cleanly) or stay open. */
type Script = (send: (type: string, object: unknown) => void, end: (err: unknown) => void) => void;

/** A `Watch` that plays one script per connection and records the requests. */
class FakeWatch implements Watcher {
  readonly requests: { path: string; query: Record<string, unknown> }[] = [];
  readonly controllers: AbortController[] = [];
  constructor(private readonly scripts: Script[]) {}

  watch(
    path: string,
    query: Record<string, unknown>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    this.requests.push({ path, query });
    const controller = new AbortController();
    this.controllers.push(controller);
    const script = this.scripts.shift();
    if (script === undefined) throw new Error('no more connections scripted');
    // Events arrive after the request has been answered, as on a socket.
    setImmediate(() => script(callback, done));
    return Promise.resolve(controller);
  }
}

function target(lists: { items: Obj[]; resourceVersion: string }[]) {
  let listed = 0;
  return {
    path: '/api/v1/namespaces/ns/pods',
    query: { labelSelector: 'app=x' },
    list: () => {
      const page = lists[Math.min(listed++, lists.length - 1)];
      return Promise.resolve(page!);
    },
    listed: () => listed,
  };
}

const readyName = (o: Obj, type: WatchEventType): string | null =>
  type !== 'DELETED' && o.ready === true ? o.metadata.name : null;

function recorder() {
  const delays: number[] = [];
  const versions: string[] = [];
  let relists = 0;
  return {
    delays,
    versions,
    relists: () => relists,
    options: (signal = new AbortController().signal) => ({
      signal,
      reconnectDelayMs: 1234,
      delay: (ms: number) => {
        delays.push(ms);
        return Promise.resolve();
      },
      onResourceVersion: (rv: string) => versions.push(rv),
      onRelist: () => relists++,
    }),
  };
}

describe('watchUntil', () => {
  it('decides on a listed object without watching', async () => {
    const w = new FakeWatch([]);
    const t = target([{ items: [obj('a', '5'), obj('b', '6', true)], resourceVersion: '10' }]);
    await expect(watchUntil(w, t, readyName, recorder().options())).resolves.toBe('b');
    expect(w.requests).toHaveLength(0);
  });

  it('watches from the list resourceVersion with the selectors, and decides on an event', async () => {
    const w = new FakeWatch([
      (send) => {
        send('ADDED', obj('a', '11'));
        send('BOOKMARK', { metadata: { resourceVersion: '12' } });
        send('MODIFIED', obj('a', '13', true));
        send('MODIFIED', obj('a', '14', true));
      },
    ]);
    const r = recorder();
    await expect(
      watchUntil(w, target([{ items: [], resourceVersion: '10' }]), readyName, r.options()),
    ).resolves.toBe('a');
    expect(w.requests).toEqual([
      {
        path: '/api/v1/namespaces/ns/pods',
        query: expect.objectContaining({
          labelSelector: 'app=x',
          resourceVersion: '10',
          allowWatchBookmarks: true,
        }),
      },
    ]);
    expect(r.versions).toEqual(['10', '11', '12', '13']);
    // The decided connection is closed.
    expect(w.controllers[0]?.signal.aborted).toBe(true);
  });

  it('reconnects after a dropped stream from the last resourceVersion seen (bookmarks included), after a pause', async () => {
    const w = new FakeWatch([
      (send, end) => {
        send('ADDED', obj('a', '11'));
        send('BOOKMARK', { metadata: { resourceVersion: '15' } });
        end(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
      },
      // The server's timeoutSeconds ended this one cleanly: reconnect at once.
      (send, end) => {
        send('MODIFIED', obj('a', '16'));
        end(null);
      },
      (send) => send('MODIFIED', obj('a', '17', true)),
    ]);
    const r = recorder();
    const t = target([{ items: [], resourceVersion: '10' }]);
    await expect(watchUntil(w, t, readyName, r.options())).resolves.toBe('a');
    expect(w.requests.map((q) => q.query.resourceVersion)).toEqual(['10', '15', '16']);
    expect(r.delays).toEqual([1234]);
    expect(t.listed()).toBe(1);
  });

  it.each([
    [
      'an ERROR event with code 410',
      (send: (t: string, o: unknown) => void) =>
        send('ERROR', { code: 410, message: 'too old resource version' }),
    ],
    [
      'a connection failing with status 410',
      (_send: unknown, end: (err: unknown) => void) =>
        end(Object.assign(new Error('Gone'), { statusCode: 410 })),
    ],
  ])('re-lists on 410 Gone (%s) and watches from the new list', async (_name, gone) => {
    const w = new FakeWatch([
      (send, end) => {
        send('ADDED', obj('a', '11'));
        (gone as Script)(send, end);
      },
      (send) => send('MODIFIED', obj('a', '31', true)),
    ]);
    const r = recorder();
    const t = target([
      { items: [obj('a', '9')], resourceVersion: '10' },
      { items: [obj('a', '29')], resourceVersion: '30' },
    ]);
    await expect(watchUntil(w, t, readyName, r.options())).resolves.toBe('a');
    expect(r.relists()).toBe(2);
    expect(w.requests.map((q) => q.query.resourceVersion)).toEqual(['10', '30']);
    expect(r.delays).toEqual([]);
  });

  it('a decision on the re-listed objects ends the watch', async () => {
    const w = new FakeWatch([(send) => send('ERROR', { code: 410 })]);
    const t = target([
      { items: [], resourceVersion: '10' },
      { items: [obj('a', '29', true)], resourceVersion: '30' },
    ]);
    await expect(watchUntil(w, t, readyName, recorder().options())).resolves.toBe('a');
    expect(w.requests).toHaveLength(1);
  });

  it('resumes from a given resourceVersion without listing', async () => {
    const w = new FakeWatch([(send) => send('MODIFIED', obj('a', '51', true))]);
    const t = target([{ items: [], resourceVersion: '10' }]);
    await expect(watchUntil(w, t, readyName, { ...recorder().options(), resumeFrom: '50' })).resolves.toBe(
      'a',
    );
    expect(t.listed()).toBe(0);
    expect(w.requests[0]?.query.resourceVersion).toBe('50');
  });

  it('rejects with the abort reason and closes the connection when the signal aborts', async () => {
    const abort = new AbortController();
    const w = new FakeWatch([(send) => send('ADDED', obj('a', '11'))]);
    const r = recorder();
    const waiting = watchUntil(w, target([{ items: [], resourceVersion: '10' }]), readyName, {
      ...r.options(abort.signal),
      onResourceVersion: (rv) => {
        if (rv === '11') abort.abort(new Error('stop'));
      },
    });
    await expect(waiting).rejects.toThrow('stop');
    expect(w.controllers[0]?.signal.aborted).toBe(true);
  });

  it('an abort during the reconnect pause ends the wait at once', async () => {
    const abort = new AbortController();
    const w = new FakeWatch([(_send, end) => end(new Error('reset'))]);
    const waiting = watchUntil(w, target([{ items: [], resourceVersion: '10' }]), readyName, {
      signal: abort.signal,
      reconnectDelayMs: 60_000,
      delay: (_ms, signal) =>
        new Promise<void>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
          abort.abort(new Error('shutdown'));
        }),
    });
    await expect(waiting).rejects.toThrow('shutdown');
    expect(w.requests).toHaveLength(1);
  });
});
