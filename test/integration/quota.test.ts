/**
 * Quota, priority and queueing on the real stack (docs/quota.md): real Temporal, Kubernetes and S3, Assay's workers
 * in this process (and, for the crash case, child processes killed with SIGKILL). What runs at once is observed
 * through a watch on the team namespace's pods — what the cluster shows, not Assay's own bookkeeping. The cases use
 * their own teams and run concurrently.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import type { KubeClients } from '../../src/kube/clients.js';
import { buildNamespace } from '../../src/activities/job-manifest.js';
import { labelKeys } from '../../src/spec/kube-labels.js';
import { evaluationWorkflowId } from '../../src/spec/names.js';
import { quotaWorkflowId } from '../../src/spec/quota.js';
import type { EvaluationRecord } from '../../src/spec/record.js';
import { localStackCollector } from '../../src/workers/config.js';
import {
  createWorkerProcesses,
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import { watchRunningPods } from '../support/pod-watch.js';
import { waitFor } from '../support/wait-for.js';
import { exitCodeOf } from '../../src/client/cli/evaluation-common.js';
import { BUSYBOX } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const taskQueue = `assay-qt-${runTag}`;
const teams = {
  fifo: `qf-${runTag}`,
  starve: `qs-${runTag}`,
  cancel: `qc-${runTag}`,
  terminate: `qt-${runTag}`,
  crash: `qk-${runTag}`,
  tight: `qr-${runTag}`,
};
/**
 * Evaluations of the ordering case: 100 by default, 95 of them queued behind the cap of 5 (about 200 s on an idle
 * two-core node); `ASSAY_QUOTA_TEST_EVALUATIONS` sets fewer for a quick run (docs/quota.md).
 */
const total = Number(process.env.ASSAY_QUOTA_TEST_EVALUATIONS ?? 100);
const highs = Math.max(2, Math.round(total / 10));
const fillers = 5;
const holderCheckSeconds = 3;
const starvationSeconds = 30;

const quotas = {
  holderCheckSeconds,
  starvationSeconds,
  teams: {
    [teams.fifo]: { maxRunning: 5 },
    [teams.starve]: { memory: '256Mi' },
    [teams.cancel]: { maxRunning: 1 },
    [teams.terminate]: { maxRunning: 1 },
    [teams.crash]: { maxRunning: 2 },
    [teams.tight]: { maxRunning: 3 },
  },
};

let harness: EvaluationHarness;
let client: AssayClient;
let kube: KubeClients;
const workers = createWorkerProcesses();
const scratch: string[] = [];

const defaults = {
  image: BUSYBOX,
  resources: { cpu: '20m', memory: '32Mi', ephemeralStorage: '32Mi' },
  timeoutSeconds: 300,
  retries: { maxAttempts: 2, backoffSeconds: 1 },
};
const sleeper =
  (team: string) =>
  (seconds: number, spec: Record<string, unknown> = {}): Record<string, unknown> =>
    manifestBuilder({ team, defaults })({ command: ['sleep', String(seconds)], ...spec });

async function snapshot(team: string, via: AssayClient = client) {
  return (await via.quota(team))[0];
}

async function start(
  manifest: Record<string, unknown>,
  label: string,
  via: AssayClient = client,
): Promise<string> {
  const id = newId(label);
  await via.start(manifest, { idempotencyKey: id });
  return id;
}

/** The team namespace exists before its pods are watched: the first evaluation would create it. */
async function ensureNamespace(team: string): Promise<string> {
  const name = `assay-${team}`;
  await kube.core.createNamespace({ body: buildNamespace(name, team) }).catch(() => undefined);
  return name;
}

/** Rejects if the in-process workers stop (a worker that died would otherwise leave every wait to its timeout). */
let workersStopped: Promise<never>;

/** The record of `id`, or the reason the workers stopped. */
async function result(id: string, via: AssayClient = client): Promise<EvaluationRecord> {
  return Promise.race([via.result(id), workersStopped]);
}

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue, quotas });
  ({ client, kube } = harness);
  workersStopped = harness.workers.done.then(
    () => Promise.reject(new Error('the workers stopped')),
    (err: unknown) => Promise.reject(err instanceof Error ? err : new Error(String(err))),
  );
  workersStopped.catch(() => undefined);
}, 180_000);

afterAll(async () => {
  workers.killAll();
  for (const team of Object.values(teams)) {
    await client?.temporal.workflow
      .getHandle(quotaWorkflowId(team))
      .terminate('test over')
      .catch(() => undefined);
  }
  await harness?.close();
  for (const team of Object.values(teams))
    await kube?.core.deleteNamespace({ name: `assay-${team}` }).catch(() => undefined);
  for (const dir of scratch) await rm(dir, { recursive: true, force: true });
}, 120_000);

describe('quota on the real stack', () => {
  it.concurrent(
    `${total} evaluations under maxRunning 5: never more than 5 pods run, all succeed, FIFO within priority, high overtakes`,
    async () => {
      const namespace = await ensureNamespace(teams.fifo);
      const pods = await watchRunningPods(kube, { namespace, labelSelector: labelKeys.evaluationId });
      const run = sleeper(teams.fifo);
      try {
        // Five fill the quota, so everything after them queues in the order it arrives.
        // Long enough that all five run at once even on a busy node.
        const first = await Promise.all(
          Array.from({ length: fillers }, (_, i) => start(run(40), `fill${i}`)),
        );
        await waitFor(async () => (await snapshot(teams.fifo))?.holders.length === fillers, {
          timeoutMs: 60_000,
          what: 'the fillers admitted',
        });
        const normals = await Promise.all(
          Array.from({ length: total - fillers - highs }, (_, i) => start(run(1), `n${i}`)),
        );
        await waitFor(
          async () => {
            const s = await snapshot(teams.fifo);
            return s !== undefined && s.queue.length + s.admissions >= normals.length + fillers;
          },
          // Generous: at most 10 updates may be in flight per workflow, so a burst of reserves is partly retried
          // (with back-off) and a loaded machine stretches that.
          { timeoutMs: 300_000, what: 'every normal evaluation reserved' },
        );
        const high = await Promise.all(
          Array.from({ length: highs }, (_, i) => start(run(1, { priority: 'high' }), `h${i}`)),
        );
        const records = new Map<string, EvaluationRecord>();
        await Promise.all(
          [...first, ...normals, ...high].map(async (id) => records.set(id, await result(id))),
        );
        expect([...records.values()].filter((r) => r.outcome !== 'Succeeded')).toEqual([]);
        expect(pods.gaps()).toEqual([]);
        expect(pods.maxRunning()).toBeLessThanOrEqual(5);
        // The cap was reached, so the bound above was tested.
        expect(pods.maxRunning()).toBe(5);

        const t = (id: string, key: 'queuedAt' | 'admittedAt'): number =>
          Date.parse(records.get(id)!.timings[key] ?? '');
        // FIFO within a priority: whoever queued first was admitted no later (arrivals in the same workflow task share
        // a timestamp and are ordered by arrival number, which the record does not carry: only distinct times count).
        let compared = 0;
        for (const group of [normals, high]) {
          const queued = group.filter((id) => records.get(id)!.timings.queuedAt !== undefined);
          for (const a of queued)
            for (const b of queued) {
              if (t(a, 'queuedAt') >= t(b, 'queuedAt')) continue;
              expect([a, t(a, 'admittedAt')]).toEqual([a, Math.min(t(a, 'admittedAt'), t(b, 'admittedAt'))]);
              compared++;
            }
        }
        expect(compared).toBeGreaterThan(0);
        // High overtakes: every normal still waiting when a high one queued was admitted after it.
        let overtaken = 0;
        for (const h of high) {
          for (const n of normals) {
            if (t(n, 'admittedAt') > t(h, 'queuedAt')) {
              expect(t(h, 'admittedAt')).toBeLessThanOrEqual(t(n, 'admittedAt'));
              overtaken++;
            }
          }
        }
        expect(overtaken).toBeGreaterThan(0);
        const after = await snapshot(teams.fifo);
        expect(after?.holders).toEqual([]);
        expect(after?.queue).toEqual([]);
        expect(after?.admissions).toBe(total);
      } finally {
        pods.stop();
      }
    },
    900_000,
  );

  it.concurrent(
    'a large evaluation is not starved by a stream of small ones, which pass it until the guard holds them',
    async () => {
      const run = sleeper(teams.starve);
      const small = (seconds = 2): Record<string, unknown> =>
        run(seconds, { resources: { cpu: '10m', memory: '64Mi', ephemeralStorage: '32Mi' } });
      const ids: string[] = [];
      // The first four hold the memory a little longer, so the stream below is queued before anything frees, and end
      // 4 s apart: freed memory then comes 64Mi at a time and goes to small ones that pass the large one
      // (BestEffortFIFO). Ending together, their releases could free all 256Mi in one step and admit the large one
      // first (seen on CI).
      for (let i = 0; i < 4; i++) ids.push(await start(small(8 + 4 * i), `s${i}`));
      await waitFor(async () => (await snapshot(teams.starve))?.holders.length === 4, {
        timeoutMs: 60_000,
        what: 'four small ones holding all the memory',
      });
      const large = await start(
        run(1, { resources: { cpu: '10m', memory: '256Mi', ephemeralStorage: '32Mi' } }),
        'large',
      );
      const waiting = await waitFor(
        async () => (await client.status(large).catch(() => undefined))?.queue ?? undefined,
        { timeoutMs: 30_000, what: 'the large one queued' },
      );
      expect(waiting.waitingFor).toMatch(/^waiting for memory: needs 256Mi, free \S+ of 256Mi$/);
      // A stream of small ones, one a second, until the large one is admitted.
      for (let i = 0; i < 60; i++) {
        if ((await client.status(large)).phase !== 'Queued') break;
        ids.push(await start(small(), `t${i}`));
        await new Promise((r) => setTimeout(r, 1000));
      }
      const bigRecord = await result(large);
      const smalls = await Promise.all(ids.map((id) => result(id)));
      expect(bigRecord.outcome).toBe('Succeeded');
      expect(smalls.filter((r) => r.outcome !== 'Succeeded')).toEqual([]);
      const queuedAt = Date.parse(bigRecord.timings.queuedAt!);
      const admittedAt = Date.parse(bigRecord.timings.admittedAt!);
      const at = (r: EvaluationRecord, key: 'queuedAt' | 'admittedAt'): number =>
        Date.parse(r.timings[key] ?? r.timings.admittedAt!);
      // BestEffortFIFO: small ones that queued after the large one ran before it...
      expect(smalls.some((r) => at(r, 'queuedAt') > queuedAt && at(r, 'admittedAt') < admittedAt)).toBe(true);
      // ...until the guard kept the freed memory for it: some that queued before its admission ran after it.
      expect(smalls.some((r) => at(r, 'queuedAt') < admittedAt && at(r, 'admittedAt') > admittedAt)).toBe(
        true,
      );
      // The guard itself: once the large one had waited starvationSeconds, no small one behind it was admitted before
      // it (all times are the quota workflow's clock, so they compare exactly).
      const guardFrom = queuedAt + starvationSeconds * 1000;
      const passedTheGuard = smalls.filter(
        (r) =>
          at(r, 'queuedAt') > queuedAt &&
          at(r, 'admittedAt') >= guardFrom &&
          at(r, 'admittedAt') < admittedAt,
      );
      expect(passedTheGuard.map((r) => r.evaluationId)).toEqual([]);
    },
    600_000,
  );

  it.concurrent(
    "an evaluation larger than its team's whole quota is refused at once with the numbers, never queued (exit 2)",
    async () => {
      const id = await start(
        sleeper(teams.starve)(1, { resources: { cpu: '10m', memory: '512Mi', ephemeralStorage: '32Mi' } }),
        'huge',
      );
      const record = await result(id);
      expect(record).toMatchObject({ outcome: 'ConfigurationError', reason: 'QuotaExceeded', attempts: [] });
      expect(record.message).toMatch(/larger than team quota: memory: needs 512Mi, free \S+ of 256Mi/);
      expect(record.timings.queuedAt).toBeUndefined();
      expect(exitCodeOf(record)).toBe(2);
    },
    600_000,
  );

  it.concurrent(
    'a queued evaluation shows its position and reason; cancelled while queued, it leaves the queue',
    async () => {
      const run = sleeper(teams.cancel);
      const holder = await start(run(120), 'hold');
      await waitFor(async () => (await snapshot(teams.cancel))?.holders.length === 1, {
        timeoutMs: 60_000,
        what: 'the first evaluation admitted',
      });
      const queued = await start(run(1), 'queued');
      const status = await waitFor(
        async () => {
          const s = await client.status(queued).catch(() => undefined);
          return s?.phase === 'Queued' ? s : undefined;
        },
        { timeoutMs: 30_000, what: 'the second evaluation Queued' },
      );
      expect(status.queuePosition).toBe(1);
      expect(status.queue?.waitingFor).toBe('waiting for a running slot: 1 of 1 in use');
      const listed = await snapshot(teams.cancel);
      expect(listed?.queue.map((e) => [e.evaluationId, e.position])).toEqual([[queued, 1]]);

      await client.cancel(queued);
      const record = await result(queued);
      expect(record.outcome).toBe('Cancelled');
      expect(record.attempts).toEqual([]);
      await waitFor(async () => (await snapshot(teams.cancel))?.queue.length === 0, {
        timeoutMs: 30_000,
        what: 'the cancelled evaluation gone from the queue',
      });
      await client.cancel(holder);
      expect((await result(holder)).outcome).toBe('Cancelled');
      await waitFor(async () => (await snapshot(teams.cancel))?.holders.length === 0, {
        timeoutMs: 30_000,
        what: 'the slot released',
      });
    },
    600_000,
  );

  it.concurrent(
    'an evaluation workflow terminated from outside has its slot reclaimed within 60 s',
    async () => {
      const namespace = `assay-${teams.terminate}`;
      const run = sleeper(teams.terminate);
      const victim = await start(run(300), 'victim');
      await waitFor(async () => (await client.status(victim).catch(() => undefined))?.phase === 'Running', {
        timeoutMs: 60_000,
        what: 'the victim running',
      });
      const next = await start(run(1), 'next');
      await waitFor(async () => (await client.status(next).catch(() => undefined))?.phase === 'Queued', {
        timeoutMs: 30_000,
        what: 'the next one queued',
      });
      const terminatedAt = Date.now();
      await client.temporal.workflow.getHandle(evaluationWorkflowId(victim)).terminate('from outside');
      {
        // No cleanup ran for the victim: remove its Job and our finalizer from its pod (the team's ResourceQuota
        // would otherwise keep refusing the next pod while the orphan runs).
        await kube.batch
          .deleteNamespacedJob({ name: `assay-${victim}-1`, namespace, propagationPolicy: 'Background' })
          .catch(() => undefined);
        const pods = await kube.core.listNamespacedPod({
          namespace,
          labelSelector: `${labelKeys.evaluationId}=${victim}`,
        });
        for (const pod of pods.items) {
          await kube.core
            .patchNamespacedPod(
              {
                name: pod.metadata!.name!,
                namespace,
                body: [{ op: 'replace', path: '/metadata/finalizers', value: [] }],
              },
              setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
            )
            .catch(() => undefined);
        }
      }
      const record = await result(next);
      expect(record.outcome).toBe('Succeeded');
      const reclaimedAfter = (Date.parse(record.timings.admittedAt!) - terminatedAt) / 1000;
      expect(reclaimedAfter).toBeLessThan(60);
    },
    600_000,
  );

  it.concurrent(
    'a ResourceQuota tighter than the policy answers 403 "exceeded quota": the evaluation waits, then runs',
    async () => {
      const namespace = await ensureNamespace(teams.tight);
      await kube.core.createNamespacedResourceQuota({
        namespace,
        body: { metadata: { name: 'tight' }, spec: { hard: { pods: '1' } } },
      });
      const run = sleeper(teams.tight);
      const ids = await Promise.all([start(run(3), 'r0'), start(run(3), 'r1')]);
      const records = await Promise.all(ids.map((id) => result(id)));
      expect(records.map((r) => r.outcome)).toEqual(['Succeeded', 'Succeeded']);
      // The policy admitted both at once; the cluster refused the second pod until the first had ended.
      expect(records.every((r) => r.timings.queuedAt === undefined)).toBe(true);
      const events = await kube.core.listNamespacedEvent({ namespace });
      expect(
        events.items.some((e) => e.reason === 'FailedCreate' && /exceeded quota/.test(e.message ?? '')),
      ).toBe(true);
      const backstop = await kube.core.readNamespacedResourceQuota({ name: 'assay-quota', namespace });
      expect(backstop.spec?.hard).toEqual({ pods: '3' });
    },
    600_000,
  );

  it.concurrent(
    'a worker SIGKILLed during the run loses nothing and leaks no slot',
    async () => {
      const queue = `${taskQueue}-k`;
      const dir = await mkdtemp(join(tmpdir(), 'assay-quota-'));
      scratch.push(dir);
      const configPath = join(dir, 'worker.yaml');
      await writeFile(
        configPath,
        JSON.stringify({
          clusters: [
            { name: 'local', kubeconfig: { path: process.env.KUBECONFIG }, collector: localStackCollector },
          ],
          quotas: { holderCheckSeconds, teams: { [teams.crash]: quotas.teams[teams.crash] } },
        }),
      );
      const env = { ASSAY_WORKER_CONFIG: configPath };
      const crashClient = new AssayClient(client.temporal, { taskQueue: queue });
      const namespace = await ensureNamespace(teams.crash);
      const pods = await watchRunningPods(kube, { namespace, labelSelector: labelKeys.evaluationId });
      try {
        const first = await workers.start(queue, env);
        const run = sleeper(teams.crash);
        const ids: string[] = [];
        for (let i = 0; i < 5; i++) ids.push(await start(run(4), `k${i}`, crashClient));
        await waitFor(async () => (await snapshot(teams.crash, crashClient))?.holders.length === 2, {
          timeoutMs: 60_000,
          what: 'two admitted',
        });
        await workers.kill(first);
        await workers.start(queue, env);
        const records = await Promise.all(ids.map((id) => crashClient.result(id)));
        expect(records.map((r) => r.outcome)).toEqual(ids.map(() => 'Succeeded'));
        const after = await snapshot(teams.crash, crashClient);
        expect(after?.holders).toEqual([]);
        expect(after?.queue).toEqual([]);
        expect(after?.admissions).toBe(ids.length);
        expect(pods.gaps()).toEqual([]);
        expect(pods.maxRunning()).toBeLessThanOrEqual(2);
      } finally {
        pods.stop();
      }
    },
    600_000,
  );
});
