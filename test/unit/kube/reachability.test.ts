/** The per-cluster reachability sentinel against a scripted probe (and its `/readyz` probe against a fake server). */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createKubeClients } from '../../../src/kube/clients.js';
import { apiServerProbe, createReachability } from '../../../src/kube/reachability.js';
import { writeFakeKubeconfig } from '../../support/fake-kubeconfig.js';
import { waitFor } from '../../support/wait-for.js';

/** A probe whose answer the test sets: ok, an error, or no answer at all. */
function scriptedProbe() {
  const state = { answer: 'ok' as 'ok' | 'fail' | 'hang', calls: 0, aborted: 0 };
  const probe = (signal: AbortSignal): Promise<void> => {
    state.calls++;
    if (state.answer === 'ok') return Promise.resolve();
    if (state.answer === 'fail') return Promise.reject(new Error('connect ECONNREFUSED 10.0.0.1:6443'));
    return new Promise<void>(() => signal.addEventListener('abort', () => state.aborted++, { once: true }));
  };
  return { state, probe };
}

const wait = { timeoutMs: 3_000, intervalMs: 5 };

describe('createReachability', () => {
  it('probes only while acquired, one interval after the first acquire, and forgets what it learned at zero', async () => {
    const { state, probe } = scriptedProbe();
    const sentinel = createReachability({ probe, intervalMs: 20 });
    try {
      await sleep(80);
      expect(state.calls).toBe(0);
      sentinel.acquire();
      sentinel.acquire();
      expect(state.calls).toBe(0);
      state.answer = 'fail';
      await waitFor(() => sentinel.unreachableSince() !== null, { ...wait, what: 'a failed probe' });
      sentinel.release();
      // One holder left: still probing.
      const before = state.calls;
      await waitFor(() => state.calls > before, { ...wait, what: 'another probe' });
      sentinel.release();
      // Released to zero: forgotten and no more probes.
      expect(sentinel.unreachableSince()).toBeNull();
      expect(sentinel.lastError()).toBeNull();
      const after = state.calls;
      await sleep(80);
      expect(state.calls).toBe(after);
      // An extra release is harmless and does not go below zero.
      sentinel.release();
      sentinel.acquire();
      await waitFor(() => state.calls > after, { ...wait, what: 'probing again' });
    } finally {
      sentinel.stop();
    }
  });

  it('probes at the shortest interval a holder asked for, and at its own again after release to zero', async () => {
    const { state, probe } = scriptedProbe();
    const sentinel = createReachability({ probe, intervalMs: 10_000 });
    try {
      sentinel.acquire(60_000);
      await sleep(100);
      expect(state.calls).toBe(0);
      // A holder that needs to know sooner restarts probing at its interval; a slower one does not slow it down.
      sentinel.acquire(20);
      sentinel.acquire(60_000);
      await waitFor(() => state.calls >= 3, { ...wait, what: 'probes every 20 ms' });
      sentinel.release();
      sentinel.release();
      sentinel.release();
      const after = state.calls;
      sentinel.acquire();
      await sleep(100);
      expect(state.calls).toBe(after);
    } finally {
      sentinel.stop();
    }
  });

  it('sets unreachableSince on the first failure, keeps it across failures, and clears it on success', async () => {
    const { state, probe } = scriptedProbe();
    let clock = 1_000_000;
    const sentinel = createReachability({ probe, intervalMs: 10, now: () => clock });
    sentinel.acquire();
    try {
      await waitFor(() => state.calls >= 2, { ...wait, what: 'two probes' });
      expect(sentinel.unreachableSince()).toBeNull();
      expect(sentinel.lastError()).toBeNull();

      state.answer = 'fail';
      const failedAt = clock;
      await waitFor(() => sentinel.unreachableSince() !== null, { ...wait, what: 'a failed probe' });
      expect(sentinel.unreachableSince()).toBe(failedAt);
      expect(sentinel.lastError()).toBe('connect ECONNREFUSED 10.0.0.1:6443');
      // Later failures keep the start of the outage.
      clock += 60_000;
      const calls = state.calls;
      await waitFor(() => state.calls > calls + 1, { ...wait, what: 'more failed probes' });
      expect(sentinel.unreachableSince()).toBe(failedAt);

      state.answer = 'ok';
      await waitFor(() => sentinel.unreachableSince() === null, { ...wait, what: 'a successful probe' });
      expect(sentinel.lastError()).toBeNull();
    } finally {
      sentinel.stop();
    }
  });

  it('counts a probe that does not answer within its deadline as failed and aborts it', async () => {
    const { state, probe } = scriptedProbe();
    state.answer = 'hang';
    const sentinel = createReachability({ probe, intervalMs: 10, timeoutMs: 30 });
    sentinel.acquire();
    try {
      await waitFor(() => sentinel.unreachableSince() !== null, { ...wait, what: 'a timed-out probe' });
      expect(sentinel.lastError()).toBe('no answer within 0.03 s');
      expect(state.aborted).toBeGreaterThanOrEqual(1);
      // One probe at a time: the hanging probe is not joined by others before its deadline.
      expect(state.calls).toBeLessThanOrEqual(state.aborted + 1);
    } finally {
      sentinel.stop();
    }
  });

  it('probes no more once stopped, even when acquired', async () => {
    const { state, probe } = scriptedProbe();
    const sentinel = createReachability({ probe, intervalMs: 10 });
    sentinel.stop();
    sentinel.acquire();
    await sleep(60);
    expect(state.calls).toBe(0);
  });
});

describe('apiServerProbe', () => {
  let server: Server;
  let dir: string;
  let kubeconfig: string;
  let answer: number | 'hang' = 200;
  const hanging: ServerResponse[] = [];
  const paths: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      paths.push(req.url ?? '');
      if (answer === 'hang') hanging.push(res);
      else res.writeHead(answer).end(answer === 200 ? 'ok' : '[-]etcd failed: reason withheld');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    dir = await mkdtemp(join(tmpdir(), 'assay-reachability-'));
    kubeconfig = await writeFakeKubeconfig(dir, (server.address() as { port: number }).port);
  });

  afterAll(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  });

  it('GETs /readyz: an answer below 500 is reached, a 5xx or no answer within the deadline is not', async () => {
    const kube = createKubeClients({ kind: 'kubeconfig', path: kubeconfig, context: null });
    const probe = apiServerProbe(kube.config);
    answer = 200;
    await expect(probe(AbortSignal.timeout(2_000))).resolves.toBeUndefined();
    expect(paths.at(-1)).toBe('/readyz');
    answer = 403;
    await expect(probe(AbortSignal.timeout(2_000))).resolves.toBeUndefined();
    answer = 500;
    await expect(probe(AbortSignal.timeout(2_000))).rejects.toThrow(
      'GET /readyz answered 500: [-]etcd failed: reason withheld',
    );
    answer = 'hang';
    const sentinel = createReachability({ probe, intervalMs: 10, timeoutMs: 100 });
    sentinel.acquire();
    try {
      await waitFor(() => sentinel.unreachableSince() !== null, { ...wait, what: 'a probe without answer' });
      expect(sentinel.lastError()).toBe('no answer within 0.1 s');
    } finally {
      sentinel.stop();
    }
  });
});
