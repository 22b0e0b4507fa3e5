/**
 * The quota workflow on the real Temporal dev server, with stub evaluations that reserve through the real quota hook
 * and `reserveQuota` activity (update-with-start) and hold their grant briefly: under a steady drain it continues as
 * new again and again without losing a holder, a queued entry or a grant, every run's history stays bounded, and the
 * cap holds throughout.
 */
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Worker } from '@temporalio/worker';
import type { Client } from '@temporalio/client';
import { ulid } from 'ulid';
import { createQuotaActivities } from '../../src/activities/quota.js';
import { quotasSchema } from '../../src/spec/quota-config.js';
import { quotaQueryName, quotaWorkflowId, type QuotaSnapshot } from '../../src/spec/quota.js';
import { connectWorkflowTier, type WorkflowTier } from '../support/temporal.js';
import { waitFor } from '../support/wait-for.js';
import { maxOverlap } from '../support/intervals.js';
import type { HolderInput } from './fixtures/quota-stub-workflows.js';

let tier: WorkflowTier;
let client: Client;

beforeAll(async () => {
  tier = await connectWorkflowTier({
    workflowsPath: fileURLToPath(new URL('./fixtures/quota-stub-workflows.ts', import.meta.url)),
  });
  client = tier.client;
}, 120_000);

afterAll(async () => {
  await tier?.close();
});

describe('quota workflow', () => {
  it('continues as new under a steady drain: no holder, entry or grant lost, each run bounded, the cap kept', async () => {
    const tag = ulid().toLowerCase().slice(-10);
    const team = `qw-${tag}`;
    const taskQueue = `test-quota-${tag}`;
    const total = 100;
    const maxRunning = 10;
    const maxHistoryEvents = 100;
    const quotas = quotasSchema.parse({ teams: { [team]: { maxRunning } }, holderCheckSeconds: 2 });
    const worker = await Worker.create({
      connection: tier.workerConnection,
      namespace: client.options.namespace,
      taskQueue,
      workflowBundle: tier.bundle,
      maxCachedWorkflows: 500,
      activities: createQuotaActivities({ client, quotas, taskQueue, maxHistoryEvents }),
    });
    const quotaId = quotaWorkflowId(team);
    try {
      await worker.runUntil(async () => {
        const handles = await Promise.all(
          Array.from({ length: total }, (_, i) =>
            client.workflow.start('holder', {
              taskQueue,
              workflowId: `holder-${tag}-${i}`,
              args: [
                {
                  evaluationId: `${tag}-${i}`,
                  team,
                  user: `u${i % 4}`,
                  priority: i % 10 === 0 ? 'high' : 'normal',
                  holdMs: 0,
                } satisfies HolderInput,
              ],
            }),
          ),
        );
        const results = (await Promise.all(handles.map((h) => h.result()))) as {
          admittedAt?: string;
          releasedAt?: string;
        }[];
        // Every holder was admitted, once, and the cap held between admission and release.
        expect(results.filter((r) => r.admittedAt === undefined || r.releasedAt === undefined)).toEqual([]);
        const intervals = results.map((r) => ({
          start: Date.parse(r.admittedAt!),
          close: Date.parse(r.releasedAt!),
        }));
        expect(maxOverlap(intervals)).toBeLessThanOrEqual(maxRunning);

        // The releases are all in: the last run holds nothing, queues nothing, and counted every admission.
        const snapshot = async (): Promise<QuotaSnapshot> =>
          await client.workflow.getHandle(quotaId).query<QuotaSnapshot>(quotaQueryName);
        let last = await snapshot();
        for (let i = 0; i < 50 && last.holders.length > 0; i++) {
          await new Promise((r) => setTimeout(r, 200));
          last = await snapshot();
        }
        expect(last.holders).toEqual([]);
        expect(last.queue).toEqual([]);
        expect(last.admissions).toBe(total);
        expect(last.generation).toBeGreaterThanOrEqual(2);

        // Each run continued as new near the threshold. A run ends on the events that arrived while its last grants
        // went out (a few per admission in flight), so it overshoots by a bounded amount; a run that waited for a
        // quiet moment to continue would instead hold the whole drain (runs of up to 430 events before reserves were refused while continuing).
        const runs: { status: string; length: number }[] = [];
        for await (const info of client.workflow.list({ query: `WorkflowId = '${quotaId}'` }))
          runs.push({ status: info.status.name, length: info.historyLength });
        expect(runs.length).toBe(last.generation + 1);
        const ended = runs.filter((r) => r.status === 'CONTINUED_AS_NEW');
        expect(ended.length).toBe(last.generation);
        for (const r of ended) expect(r.length).toBeLessThanOrEqual(maxHistoryEvents + 100);
        process.stderr.write(
          `quota workflow: ${total} admissions in ${runs.length} runs, history lengths ${runs.map((r) => r.length).join(', ')}\n`,
        );
      });
    } finally {
      await client.workflow
        .getHandle(quotaId)
        .terminate('test over')
        .catch(() => undefined);
    }
  }, 240_000);

  it('takes a limit changed in the config for the next admissions, while what runs keeps running', async () => {
    const tag = ulid().toLowerCase().slice(-10);
    const team = `qp-${tag}`;
    const taskQueue = `test-quota-${tag}`;
    // The object the activities read the config from: a worker restarted with a new config file hands the quota
    // workflow its new limits the same way (with the next reserve, or the next holder check).
    const quotas = quotasSchema.parse({ teams: { [team]: { maxRunning: 1 } }, holderCheckSeconds: 1 });
    const worker = await Worker.create({
      connection: tier.workerConnection,
      namespace: client.options.namespace,
      taskQueue,
      workflowBundle: tier.bundle,
      activities: createQuotaActivities({ client, quotas, taskQueue }),
    });
    const quotaId = quotaWorkflowId(team);
    const holder = (name: string, holdMs: number) =>
      client.workflow.start('holder', {
        taskQueue,
        workflowId: `holder-${tag}-${name}`,
        args: [
          {
            evaluationId: `${tag}-${name}`,
            team,
            user: 'ada',
            priority: 'normal',
            holdMs,
          } satisfies HolderInput,
        ],
      });
    const snapshot = () => client.workflow.getHandle(quotaId).query<QuotaSnapshot>(quotaQueryName);
    try {
      await worker.runUntil(async () => {
        const first = await holder('first', 15_000);
        await waitFor(
          async () => ((await snapshot().catch(() => null))?.holders.length === 1 ? true : undefined),
          {
            timeoutMs: 30_000,
            what: 'the first admitted',
          },
        );
        const second = await holder('second', 0);
        await waitFor(async () => ((await snapshot()).queue.length === 1 ? true : undefined), {
          timeoutMs: 30_000,
          what: 'the second queued behind maxRunning 1',
        });
        quotas.teams[team] = quotasSchema.parse({ teams: { [team]: { maxRunning: 2 } } }).teams[team]!;
        const admitted = (await second.result()) as { admittedAt?: string };
        const held = (await first.result()) as { admittedAt?: string; releasedAt?: string };
        // Admitted under the new limit while the first still held its slot: nothing was restarted.
        expect(Date.parse(admitted.admittedAt!)).toBeLessThan(Date.parse(held.releasedAt!));
        expect((await snapshot()).policy.maxRunning).toBe(2);
      });
    } finally {
      await client.workflow
        .getHandle(quotaId)
        .terminate('test over')
        .catch(() => undefined);
    }
  }, 120_000);
});
