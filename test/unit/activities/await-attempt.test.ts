/**
 * The wait activity's two infrastructure ends that come from timers, not watch events (docs/multi-cluster.md,
 * "Spill-over and failover"): a pod unschedulable for `unschedulableSeconds`, and a cluster whose API server has
 * not answered for `lostClusterSeconds`. Fake kube clients, shared watches, reachability sentinel and activity context.
 */
import { describe, expect, it } from '@jest/globals';
import { asyncLocalStorage, type Context } from '@temporalio/activity';
import type { V1Pod } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { createJobActivities, type JobActivityDeps } from '../../../src/activities/jobs.js';
import type { AttemptWatches } from '../../../src/activities/attempt-watches.js';
import type { AwaitAttemptInput } from '../../../src/activities/types.js';
import type { KubeClients } from '../../../src/kube/clients.js';
import type { Reachability } from '../../../src/kube/reachability.js';
import type { AttemptMeterDeps } from '../../../src/cost/attempt-meter.js';
import { labelKeys } from '../../../src/spec/kube-labels.js';
import type { AttemptEnd } from '../../../src/spec/record.js';

type Decide = (pod: V1Pod, type: 'ADDED' | 'MODIFIED' | 'DELETED') => AttemptEnd | null;

/** Shared watches the test feeds by hand: `send` hands a pod version to the waiting attempt's decision. */
function fakeWatches() {
  let decide: { fn: Decide; resolve: (end: AttemptEnd) => void } | null = null;
  const until = <R>(fn: Decide | null, signal: AbortSignal): Promise<R> =>
    new Promise<R>((resolve, reject) => {
      if (fn !== null) decide = { fn, resolve: resolve as (end: AttemptEnd) => void };
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
    });
  const watches = {
    pods: () => ({ until: (_key: string, fn: Decide, signal: AbortSignal) => until(fn, signal) }),
    jobEvents: () => ({ until: (_key: string, _fn: unknown, signal: AbortSignal) => until(null, signal) }),
    stopAll: () => undefined,
  } as unknown as AttemptWatches;
  return {
    watches,
    send(pod: V1Pod, type: 'ADDED' | 'MODIFIED' | 'DELETED' = 'MODIFIED') {
      const end = decide!.fn(pod, type);
      if (end !== null) decide!.resolve(end);
    },
  };
}

/** Kube clients whose every call is counted; `readNamespacedPod` answers with `current()`. */
function fakeKube(current: () => V1Pod | null) {
  const calls: string[] = [];
  const counted = (name: string, answer: () => Promise<unknown>) => () => {
    calls.push(name);
    return answer();
  };
  const notFound = () => Promise.reject(Object.assign(new Error('not found'), { statusCode: 404 }));
  const kube = {
    core: {
      readNamespacedPod: counted('readNamespacedPod', () => {
        const pod = current();
        return pod === null ? notFound() : Promise.resolve(pod);
      }),
      deleteNamespacedPod: counted('deleteNamespacedPod', () => Promise.resolve({})),
    },
    batch: { readNamespacedJob: counted('readNamespacedJob', notFound) },
    networking: {},
    watch: {},
    config: {},
  } as unknown as KubeClients;
  return { kube, calls };
}

/** A sentinel the test sets: down since `since` with `error`, or up (null). */
function fakeReachability() {
  const state = { since: null as number | null, error: null as string | null, holders: 0, acquired: 0 };
  const reachability: Reachability = {
    acquire: () => void (state.holders++, state.acquired++),
    release: () => void state.holders--,
    unreachableSince: () => state.since,
    lastError: () => state.error,
    stop: () => undefined,
  };
  return { state, reachability };
}

/** Runs `fn` as an activity: a context with a cancellation signal the test may abort. */
function inActivity<T>(fn: () => Promise<T>): { result: Promise<T>; cancel: () => void } {
  const controller = new AbortController();
  const ctx = {
    info: { heartbeatDetails: undefined },
    heartbeat: () => undefined,
    cancellationSignal: controller.signal,
    log: { warn: () => undefined, info: () => undefined, debug: () => undefined, error: () => undefined },
  } as unknown as Context;
  const result = asyncLocalStorage.run(ctx, fn);
  return { result, cancel: () => controller.abort(new Error('cancelled')) };
}

const ref: AwaitAttemptInput = { namespace: 'assay-team', evaluationId: 'eval1', attempt: 1 };

function pendingPod(unschedulableAt: Date | null, nodeName?: string): V1Pod {
  return {
    metadata: {
      name: 'assay-eval1-1-abcde',
      namespace: 'assay-team',
      labels: { [labelKeys.evaluationId]: 'eval1', [labelKeys.attempt]: '1' },
    },
    spec: {
      containers: [{ name: 'main', image: 'busybox' }],
      ...(nodeName !== undefined ? { nodeName } : {}),
    },
    status: {
      phase: 'Pending',
      conditions:
        unschedulableAt === null
          ? []
          : [
              {
                type: 'PodScheduled',
                status: 'False',
                reason: 'Unschedulable',
                message: '0/1 nodes are available: 1 Insufficient cpu.',
                // As the watch delivers it: text.
                lastTransitionTime: unschedulableAt.toISOString() as unknown as Date,
              },
            ],
    },
  };
}

function succeededPod(): V1Pod {
  const pod = pendingPod(null, 'node-1');
  pod.status = {
    phase: 'Succeeded',
    containerStatuses: [
      {
        name: 'main',
        image: 'busybox',
        imageID: '',
        ready: false,
        restartCount: 0,
        state: {
          terminated: {
            exitCode: 0,
            reason: 'Completed',
            startedAt: new Date(Date.now() - 2000),
            finishedAt: new Date(),
          },
        },
      },
    ],
  };
  return pod;
}

/** The wait's activities over fakes; `current` is what reading the pod answers (null: 404). */
function setup(current: () => V1Pod | null, extra: Partial<JobActivityDeps> = {}) {
  const { kube, calls } = fakeKube(current);
  const feed = fakeWatches();
  const sentinel = fakeReachability();
  const jobs = createJobActivities({
    kube,
    watches: feed.watches,
    cluster: { collector: null },
    reachability: sentinel.reachability,
    lostClusterCheckMs: 10,
    ...extra,
  });
  /** Starts a wait as an activity and lets it subscribe. */
  const start = async (input: AwaitAttemptInput) => {
    const run = inActivity(() => jobs.awaitAttempt(input));
    await sleep(10);
    return run;
  };
  return { calls, feed, sentinel, start };
}

describe('awaitAttempt: unschedulableSeconds', () => {
  it('ends with Infrastructure/Unschedulable once the pod has stayed unschedulable for the bound, re-reading it once', async () => {
    const pod = pendingPod(new Date(Date.now() - 800));
    const { calls, feed, start } = setup(() => pod);
    const run = await start({ ...ref, unschedulableSeconds: 1 });
    // Every update of the unschedulable pod arms the one timer only once.
    feed.send(pod, 'ADDED');
    feed.send(pod);
    const end = await run.result;
    expect(end).toEqual({
      kind: 'Infrastructure',
      pod: 'assay-eval1-1-abcde',
      exitCode: null,
      reason: 'Unschedulable',
      message: '0/1 nodes are available: 1 Insufficient cpu.; unschedulable for 1 s',
      startedAt: null,
      finishedAt: null,
      result: null,
      terminationMessage: null,
    });
    expect(calls).toEqual(['readNamespacedPod']);
  });

  it('is disarmed by an update that shows the pod scheduled, and the attempt ends as usual', async () => {
    const { calls, feed, start } = setup(() => pendingPod(new Date()));
    const run = await start({ ...ref, unschedulableSeconds: 1 });
    feed.send(pendingPod(new Date(Date.now() - 700)), 'ADDED');
    feed.send(pendingPod(null, 'node-1'));
    await sleep(500);
    expect(calls).toEqual([]);
    feed.send(succeededPod());
    await expect(run.result).resolves.toMatchObject({ kind: 'Succeeded', exitCode: 0 });
    expect(calls).toEqual([]);
  });

  it('keeps waiting when the re-read pod was scheduled meanwhile, and leaves a vanished pod to the watch', async () => {
    let current: V1Pod | null = pendingPod(null, 'node-1');
    const { calls, feed, start } = setup(() => current);
    const run = await start({ ...ref, unschedulableSeconds: 1 });
    feed.send(pendingPod(new Date(Date.now() - 1000)), 'ADDED');
    await sleep(100);
    expect(calls).toEqual(['readNamespacedPod']);
    // A later update still unschedulable arms the timer again; the pod is gone by then: left to the watch.
    current = null;
    feed.send(pendingPod(new Date(Date.now() - 2000)));
    await sleep(100);
    expect(calls).toEqual(['readNamespacedPod', 'readNamespacedPod']);
    const settled = await Promise.race([run.result.then(() => 'ended'), sleep(200).then(() => 'waiting')]);
    expect(settled).toBe('waiting');
    feed.send(succeededPod());
    await expect(run.result).resolves.toMatchObject({ kind: 'Succeeded' });
  });

  it('does nothing without unschedulableSeconds', async () => {
    const { calls, feed, start } = setup(() => pendingPod(new Date(0)));
    const run = await start(ref);
    feed.send(pendingPod(new Date(0)), 'ADDED');
    await sleep(100);
    expect(calls).toEqual([]);
    feed.send(succeededPod());
    await expect(run.result).resolves.toMatchObject({ kind: 'Succeeded' });
  });
});

describe('awaitAttempt: lostClusterSeconds', () => {
  it('ends with Infrastructure/ClusterUnreachable without another API call, the measurement not waiting on the node', async () => {
    const cost: AttemptMeterDeps = {
      sampler: { track: () => () => undefined, requests: 0, stopAll: () => undefined },
      // The API server is gone: the node read hangs.
      readNode: () => new Promise(() => undefined),
      spotLabels: [],
    };
    const { calls, feed, sentinel, start } = setup(() => null, { cost });
    const run = await start({ ...ref, lostClusterSeconds: 2, unschedulableSeconds: 60 });
    feed.send(pendingPod(null, 'node-1'), 'ADDED');
    expect(sentinel.state.holders).toBe(1);
    // Down, but not yet for long enough.
    sentinel.state.since = Date.now() - 1000;
    sentinel.state.error = 'no answer within 3 s';
    const early = await Promise.race([run.result.then(() => 'ended'), sleep(100).then(() => 'waiting')]);
    expect(early).toBe('waiting');
    // Down since long enough ago.
    sentinel.state.since = Date.now() - 2500;
    const t0 = Date.now();
    const end = await run.result;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(end).toMatchObject({
      kind: 'Infrastructure',
      reason: 'ClusterUnreachable',
      pod: 'assay-eval1-1-abcde',
      exitCode: null,
      startedAt: null,
      finishedAt: null,
    });
    expect(end.message).toMatch(
      /^the cluster's API server has not answered for [23] s \(last error: no answer within 3 s\)$/,
    );
    expect(end.measurement).toMatchObject({ node: 'node-1', spot: false });
    expect(calls).toEqual([]);
    expect(sentinel.state.holders).toBe(0);
  });

  it('says when the main container started when it had been seen running before the loss', async () => {
    const { feed, sentinel, start } = setup(() => null);
    const run = await start({ ...ref, lostClusterSeconds: 1 });
    const running = pendingPod(null, 'node-1');
    running.status = {
      phase: 'Running',
      containerStatuses: [
        {
          name: 'main',
          image: 'busybox',
          imageID: '',
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: '2026-12-02T10:00:00Z' as unknown as Date } },
        },
      ],
    };
    feed.send(running, 'MODIFIED');
    await sleep(50);
    sentinel.state.since = Date.now() - 1500;
    sentinel.state.error = 'no answer within 3 s';
    await expect(run.result).resolves.toMatchObject({
      kind: 'Infrastructure',
      reason: 'ClusterUnreachable',
      startedAt: '2026-12-02T10:00:00.000Z',
    });
  });

  it('acquires the sentinel only for a wait that asks, and releases it when the wait is cancelled', async () => {
    const { sentinel, start } = setup(() => null);
    const plain = await start(ref);
    expect(sentinel.state.acquired).toBe(0);
    plain.cancel();
    await expect(plain.result).rejects.toThrow('cancelled');

    const asking = await start({ ...ref, lostClusterSeconds: 60 });
    expect(sentinel.state.holders).toBe(1);
    asking.cancel();
    await expect(asking.result).rejects.toThrow('cancelled');
    expect(sentinel.state.holders).toBe(0);
  });
});
