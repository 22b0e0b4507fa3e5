/**
 * The cluster monitor workflow on the real Temporal dev server with a stub `probeClusters` activity: it answers the
 * latest view by query, keeps a cluster's last `lastSeen` through rounds that do not reach it, keeps the view through
 * a failed round (naming the failure), continues as new after `probesPerRun` rounds with the view carried over, and a
 * second start for the same queue starts no second monitor.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import { ulid } from 'ulid';
import type { ClusterMonitorActivities } from '../../src/activities/cluster-monitor.js';
import type { ClusterHealth } from '../../src/placement/types.js';
import { ensureClusterMonitor, queryClusterView } from '../../src/placement/view-source.js';
import { clusterMonitorWorkflowId, type ProbeRoundResult } from '../../src/placement/view.js';
import { loadWorkflowBundle } from '../../src/workers/run.js';
import { connectWorkflowTier, type WorkflowTier } from '../support/temporal.js';
import { stackTestEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

/** The stack's Temporal with the run's workflow bundle (the production workflows, `clusterMonitor` among them). */
let tier: WorkflowTier | undefined;
const bundle = () => loadWorkflowBundle(stackTestEnv().ASSAY_TEST_WORKFLOW_BUNDLE);

beforeAll(async () => void (tier = await connectWorkflowTier({ load: bundle })), 120_000);
afterAll(() => tier?.close());

function health(round: number, reached: boolean): ClusterHealth {
  return {
    name: 'a',
    healthy: reached,
    reason: reached ? null : 'API server unreachable: connect ECONNREFUSED 127.0.0.1:1',
    cordoned: false,
    capacity: { cpuMillis: { free: round, total: 4000 }, memoryBytes: { free: 0, total: 0 }, gpus: {} },
    running: 0,
    queued: 0,
    workerPollers: 1,
    lastSeen: reached ? new Date(Date.UTC(2026, 11, 2, 0, 0, round)).toISOString() : null,
    probedAt: new Date().toISOString(),
  };
}

describe('clusterMonitor', () => {
  it('answers the latest view, keeps it through failed and unreached rounds, and continues as new with it', async () => {
    const { client, workerConnection, bundle: workflowBundle } = tier!;
    const taskQueue = `test-monitor-${ulid().toLowerCase().slice(-10)}`;
    let round = 0;
    const activities: ClusterMonitorActivities = {
      probeClusters(): Promise<ProbeRoundResult> {
        round++;
        // Round 2 fails as a whole; rounds 3 and later do not reach the cluster.
        if (round === 2) return Promise.reject(new Error('probe round 2 failed'));
        return Promise.resolve({
          view: { a: health(round, round === 1) },
          probedAt: new Date().toISOString(),
          intervalSeconds: 1,
          probesPerRun: 3,
          apiRequests: { a: round === 1 ? 3 : 1 },
          durationMs: 1,
        });
      },
    };
    const worker = await Worker.create({
      connection: workerConnection,
      namespace: client.options.namespace,
      taskQueue,
      workflowBundle,
      activities,
    });
    const workflowId = clusterMonitorWorkflowId(taskQueue);
    try {
      await worker.runUntil(async () => {
        expect(await ensureClusterMonitor(client, taskQueue)).toBe('started');
        // A second worker at start-up finds it running.
        expect(await ensureClusterMonitor(client, taskQueue)).toBe('running');

        const first = await waitFor(
          async () => {
            const answer = await queryClusterView(client, taskQueue);
            return answer.updatedAt !== null ? answer : undefined;
          },
          { timeoutMs: 20_000, what: 'the first view' },
        );
        expect(first.view.a).toMatchObject({ healthy: true, lastSeen: '2026-12-02T00:00:01.000Z' });

        const failed = await waitFor(
          async () => {
            const answer = await queryClusterView(client, taskQueue);
            return answer.lastError !== null ? answer : undefined;
          },
          { timeoutMs: 20_000, what: 'the failed round' },
        );
        expect(failed.lastError).toContain('probe round 2 failed');
        expect(failed.view.a?.capacity.cpuMillis.free).toBe(1);

        // Rounds 3…: unreached, so lastSeen stays round 1's; after 3 rounds the run continues as new.
        const next = await waitFor(
          async () => {
            const answer = await queryClusterView(client, taskQueue, { requireRunning: true });
            return answer.generation >= 1 && (answer.view.a?.capacity.cpuMillis.free ?? 0) >= 4
              ? answer
              : undefined;
          },
          { timeoutMs: 30_000, what: 'a round of the continued run' },
        );
        expect(next.lastError).toBeNull();
        expect(next.view.a).toMatchObject({ healthy: false, lastSeen: '2026-12-02T00:00:01.000Z' });
        expect(next.view.a?.reason).toContain('ECONNREFUSED');

        const description = await client.workflow.getHandle(workflowId).describe();
        expect(description.status.name).toBe('RUNNING');
        expect(description.historyLength).toBeLessThan(60);
      });
    } finally {
      await client.workflow
        .getHandle(workflowId)
        .terminate('test over')
        .catch(() => undefined);
    }
    // A terminated monitor is started again by the next worker.
    await expect(
      queryClusterView(client, taskQueue, { requireRunning: true, timeoutMs: 2000 }),
    ).rejects.toThrow(/no cluster monitor runs/);
  });
});
