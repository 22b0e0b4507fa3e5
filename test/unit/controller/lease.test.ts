import { describe, expect, it } from '@jest/globals';
import type { V1Lease } from '@kubernetes/client-node';
import { LeaderElector, type LeaseStore } from '../../../src/controller/lease.js';

/** An in-memory Lease with the API server's optimistic concurrency: a stale resourceVersion is a conflict. */
function memoryStore(): LeaseStore & { lease: V1Lease | null } {
  let version = 0;
  const store = {
    lease: null as V1Lease | null,
    read: () => Promise.resolve(store.lease === null ? null : structuredClone(store.lease)),
    create(lease: V1Lease) {
      if (store.lease !== null) return Promise.resolve('conflict' as const);
      store.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++version) } };
      return Promise.resolve(structuredClone(store.lease));
    },
    replace(lease: V1Lease) {
      if (store.lease?.metadata?.resourceVersion !== lease.metadata?.resourceVersion)
        return Promise.resolve('conflict' as const);
      store.lease = { ...lease, metadata: { ...lease.metadata, resourceVersion: String(++version) } };
      return Promise.resolve(structuredClone(store.lease));
    },
  };
  return store;
}

function elector(store: LeaseStore, identity: string, clock: { t: number }) {
  return new LeaderElector({
    store,
    name: 'l',
    namespace: 'ns',
    identity,
    now: () => new Date(clock.t),
    onStartedLeading: () => undefined,
  });
}

describe('LeaderElector.tryAcquireOrRenew', () => {
  it('creates the Lease when missing; a second candidate waits while it is renewed', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    const a = elector(store, 'a', clock);
    const b = elector(store, 'b', clock);
    expect(await a.tryAcquireOrRenew()).toBe(true);
    expect(store.lease?.spec?.holderIdentity).toBe('a');
    expect(await b.tryAcquireOrRenew()).toBe(2000);
    clock.t += 5000;
    expect(await a.tryAcquireOrRenew()).toBe(true);
    clock.t += 9000;
    expect(await b.tryAcquireOrRenew()).toBe(2000);
    expect(store.lease?.spec?.holderIdentity).toBe('a');
  });

  it('takes over exactly when the holder has not renewed for the lease duration, and sleeps only until then', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    const a = elector(store, 'a', clock);
    const b = elector(store, 'b', clock);
    await a.tryAcquireOrRenew();
    clock.t += 14_000;
    expect(await b.tryAcquireOrRenew()).toBe(1010); // 1 s left (+10 ms)
    clock.t += 1000;
    expect(await b.tryAcquireOrRenew()).toBe(true);
    expect(store.lease?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // The old holder finds it taken and does not renew over it.
    expect(await a.tryAcquireOrRenew()).toBe(2000);
    expect(store.lease?.spec?.holderIdentity).toBe('b');
  });

  it('lets only one of two racing candidates win (resourceVersion conflict)', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    const read = store.read.bind(store);
    // Both read the same (absent) Lease before either writes.
    const snapshot = await read();
    store.read = () => Promise.resolve(snapshot);
    const results = await Promise.all(
      [elector(store, 'a', clock), elector(store, 'b', clock)].map((e) => e.tryAcquireOrRenew()),
    );
    expect(results.filter((r) => r === true)).toHaveLength(1);
  });

  it('takes a released Lease (no holder) at once', async () => {
    const store = memoryStore();
    const clock = { t: 1_000_000 };
    await elector(store, 'a', clock).tryAcquireOrRenew();
    store.lease!.spec!.holderIdentity = '';
    expect(await elector(store, 'b', clock).tryAcquireOrRenew()).toBe(true);
  });

  it('counts from when it saw the Lease when the holder clock is far ahead', async () => {
    const store = memoryStore();
    const ahead = { t: 1_000_000 + 60_000 };
    const clock = { t: 1_000_000 };
    await elector(store, 'a', ahead).tryAcquireOrRenew();
    const b = elector(store, 'b', clock);
    expect(await b.tryAcquireOrRenew()).toBe(2000);
    clock.t += 14_000;
    expect(await b.tryAcquireOrRenew()).toBe(1010);
  });
});

describe('LeaderElector.run', () => {
  it('leads, stops leading when aborted, and releases the Lease', async () => {
    const store = memoryStore();
    const events: string[] = [];
    const stop = new AbortController();
    const e = new LeaderElector({
      store,
      name: 'l',
      namespace: 'ns',
      identity: 'a',
      renewIntervalMs: 5,
      retryPeriodMs: 5,
      onStartedLeading: () => {
        events.push('start');
        setTimeout(() => stop.abort(), 20);
      },
      onStoppedLeading: () => events.push('stop'),
    });
    await e.run(stop.signal);
    expect(events).toEqual(['start', 'stop']);
    expect(store.lease?.spec?.holderIdentity).toBe('');
    expect(e.isLeader).toBe(false);
  });
});
