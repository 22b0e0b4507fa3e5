/**
 * Schedules on the real stack: an every-minute schedule, paused, triggered now and backfilled over its 3 past slots
 * runs exactly 4 batches (ids carrying each slot's time); a second backfill of the same range starts nothing new;
 * unpaused, its next slot starts a batch on time (the delay from the slot to the evaluation's start is printed).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import {
  ScheduleClient,
  InvalidScheduleError,
  ScheduleExistsError,
} from '../../src/client/schedule-client.js';
import type { KubeClients } from '../../src/kube/clients.js';
import { scheduledRunId } from '../../src/spec/schedule.js';
import { startEvaluationHarness, type EvaluationHarness } from '../support/evaluation-harness.js';
import { waitFor } from '../support/wait-for.js';
import { BUSYBOX } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `sched-${runTag}`;
const namespace = `assay-${team}`;
const name = `sc${runTag}`;

let harness: EvaluationHarness;
let schedules: ScheduleClient;
let kube: KubeClients;

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue: `assay-sched-${runTag}` });
  kube = harness.kube;
  schedules = new ScheduleClient(harness.client.temporal, harness.client.taskQueue);
}, 180_000);

afterAll(async () => {
  await schedules?.delete(name).catch(() => undefined);
  await harness?.close();
  await kube?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
});

const manifest = {
  apiVersion: 'assay.dev/v1',
  kind: 'EvaluationBatch',
  spec: {
    template: {
      spec: {
        team,
        user: 'ada',
        image: BUSYBOX,
        command: ['sh', '-c', 'echo "{\\"n\\": $N}" > /dev/termination-log'],
        env: [{ name: 'N', value: '${{ matrix.n }}' }],
        resources: { cpu: '10m', memory: '16Mi', ephemeralStorage: '16Mi' },
        retries: { maxAttempts: 1, backoffSeconds: 1 },
      },
    },
    matrix: { n: [1] },
    maxConcurrent: 1,
  },
};

/** Batches of the schedule as visibility lists them: id → status. */
async function batchesOfSchedule(): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const info of harness.client.temporal.workflow.list({
    query: `WorkflowType = 'batch' AND AssaySchedule = '${name}'`,
  })) {
    out.set(info.workflowId.slice('batch-'.length), info.status.name);
  }
  return out;
}

/** Closed scheduled runs of the schedule (the schedule's actions). */
async function closedScheduledRuns(): Promise<number> {
  let n = 0;
  for await (const info of harness.client.temporal.workflow.list({
    query: `WorkflowType = 'scheduledRun' AND AssaySchedule = '${name}' AND ExecutionStatus != 'Running'`,
  })) {
    if (info.status.name !== 'RUNNING') n++;
  }
  return n;
}

describe('schedules on the real stack', () => {
  it('refuses an invalid cron and an existing name without --update', async () => {
    await expect(schedules.create(`${name}x`, manifest, { cron: '61 * * *' })).rejects.toBeInstanceOf(
      InvalidScheduleError,
    );
  });

  it('trigger + backfill of 3 past slots → exactly 4 batches; backfilling again starts nothing; unpaused, the next slot runs', async () => {
    // Created and paused well inside one minute, so no slot of its own fires in between.
    if (new Date().getUTCSeconds() >= 45)
      await new Promise((r) => setTimeout(r, (61 - new Date().getUTCSeconds()) * 1000));
    await schedules.create(name, manifest, { cron: '* * * * *', overlap: 'allow-all' });
    await schedules.pause(name);
    await expect(schedules.create(name, manifest, { cron: '* * * * *' })).rejects.toBeInstanceOf(
      ScheduleExistsError,
    );
    expect((await schedules.describe(name)).paused).toBe(true);

    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    const from = new Date(minute - 3 * 60_000 - 30_000);
    const to = new Date(minute - 30_000);
    const expectedSlots = [3, 2, 1].map((k) => scheduledRunId(name, new Date(minute - k * 60_000)));

    await schedules.trigger(name);
    await schedules.backfill(name, from, to);
    await waitFor(async () => ((await closedScheduledRuns()) >= 4 ? true : undefined), {
      timeoutMs: 240_000,
      what: 'four scheduled runs to end',
      intervalMs: 1000,
    });
    const first = await batchesOfSchedule();
    expect(first.size).toBe(4);
    for (const slot of expectedSlots) expect(first.get(slot)).toBe('COMPLETED');

    // The same range again: three more scheduled runs, each finding its batch id taken.
    await schedules.backfill(name, from, to);
    await waitFor(async () => ((await closedScheduledRuns()) >= 7 ? true : undefined), {
      timeoutMs: 120_000,
      what: 'the second backfill to end',
      intervalMs: 1000,
    });
    expect([...(await batchesOfSchedule()).keys()].sort()).toEqual([...first.keys()].sort());
    const described = await schedules.describe(name);
    const skipped = described.recentRuns.filter((r) => r.result?.skipped?.includes('already ran'));
    expect(skipped).toHaveLength(3);

    // Unpaused, the next minute's slot starts a batch by itself.
    await schedules.unpause(name);
    expect((await schedules.describe(name)).paused).toBe(false);
    const next = (await schedules.describe(name)).nextRuns[0]!;
    const slotId = scheduledRunId(name, next);
    const evaluation = `eval-${slotId}-0`;
    const started = await waitFor(
      async () => {
        try {
          return await harness.client.temporal.workflow.getHandle(evaluation).describe();
        } catch {
          return undefined;
        }
      },
      { timeoutMs: 120_000, what: `the evaluation of slot ${next.toISOString()}`, intervalMs: 250 },
    );
    await schedules.pause(name);
    const record = await harness.client.result(`${slotId}-0`);
    expect(record.outcome).toBe('Succeeded');
    process.stderr.write(
      `schedule delay: slot ${next.toISOString()} → evaluation workflow started +${started.startTime.getTime() - next.getTime()} ms, ` +
        `main container started +${Date.parse(record.timings.startedAt!) - next.getTime()} ms (1 s precision)\n`,
    );
    expect(started.startTime.getTime() - next.getTime()).toBeLessThan(30_000);
  }, 600_000);
});
