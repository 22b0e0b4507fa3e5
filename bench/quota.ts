/**
 * Benchmark of the team quota workflow (docs/quota.md): admissions per second with 1,000 reservations queued, the
 * time a reserve update takes to answer with that queue, and the history the workflow accumulates over those 1,000
 * admissions (continue-as-new included). Prints figures; asserts nothing. Needs the local stack (Temporal only):
 *   eval "$(npm run --silent stack -- env)"; npx tsx bench/quota.ts [--queued 1000] [--max-running 10]
 *
 * `--max-running` stand-ins (`bench/quota/workflows.ts`) hold the quota; `--queued` more reserve behind them (each
 * reserve is the update-with-start the reserve activity sends). Then the holders are granted and release at once,
 * so every admission frees the slot for the next: the drain rate is the quota workflow's admission rate, each
 * admission costing a grant signal, the stand-in's release signal and the workflow tasks between them. There is no
 * baseline run beside it: the figure to compare with is Kueue's own performance gate (~43 admissions/s).
 */
import { Client, Connection, WithStartWorkflowOperation } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { NativeConnection, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { ulid } from 'ulid';
import { createQuotaActivities, isContinuingRefusal } from '../src/activities/quota.js';
import { quotasSchema } from '../src/spec/quota-config.js';
import {
  quotaQueryName,
  quotaSnapshotSchema,
  quotaWorkflowId,
  quotaWorkflowType,
  reserveUpdateName,
  type ReserveAnswer,
  type ReserveRequest,
  type TeamQuotaInput,
} from '../src/spec/quota.js';

const options = new Command()
  .option('--queued <n>', 'reservations queued behind the holders', '1000')
  .option('--max-running <n>', "the team's maxRunning (holders admitted at once)", '10')
  .option('--concurrency <n>', 'reserve updates in flight at once while filling the queue', '5')
  .parse()
  .opts<{ queued: string; maxRunning: string; concurrency: string }>();
const queued = Number(options.queued);
const maxRunning = Number(options.maxRunning);
const concurrency = Number(options.concurrency);

const tag = ulid().toLowerCase().slice(-8);
const team = `bench-${tag}`;
const taskQueue = `assay-bench-quota-${tag}`;
const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
const namespace = process.env.TEMPORAL_NAMESPACE ?? 'default';

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const native = await NativeConnection.connect({ address });
  const quotas = quotasSchema.parse({ holderCheckSeconds: 3600, teams: { [team]: { maxRunning } } });
  const worker = await Worker.create({
    connection: native,
    namespace,
    taskQueue,
    workflowBundle: await bundleWorkflowCode({
      workflowsPath: fileURLToPath(new URL('./quota/workflows.ts', import.meta.url)),
      logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
    }),
    activities: createQuotaActivities({ client, quotas, taskQueue }),
    maxCachedWorkflows: 2000,
  });
  const running = worker.run();
  const policy = { maxRunning, users: {} };
  const fairness = { agingSeconds: quotas.agingSeconds, starvationSeconds: 86_400 };
  const start: TeamQuotaInput = {
    team,
    policy,
    fairness,
    holderCheckSeconds: quotas.holderCheckSeconds,
    maxHistoryEvents: 2000,
    state: null,
  };
  const ids = Array.from({ length: maxRunning + queued }, (_, i) => `h${i}-${tag}`);
  try {
    process.stdout.write(`starting ${ids.length} stand-ins on ${taskQueue}\n`);
    for (let i = 0; i < ids.length; i += 50) {
      await Promise.all(
        ids.slice(i, i + 50).map((id) =>
          client.workflow.start('quotaBenchHolder', {
            taskQueue,
            workflowId: `eval-${id}`,
            args: [team, id],
          }),
        ),
      );
    }
    const reserve = async (id: string): Promise<{ answer: ReserveAnswer; ms: number }> => {
      const request: ReserveRequest = {
        evaluationId: id,
        workflowId: `eval-${id}`,
        user: 'bench',
        priority: 'normal',
        demand: { cpu: 100, memory: 2 ** 20, gpu: {} },
        policy,
        fairness,
      };
      const t0 = performance.now();
      // Temporal refuses more than a few updates in flight per workflow (RESOURCE_EXHAUSTED), and a run about to
      // continue as new refuses reserves: both sent again, as the reserve activity does.
      for (let tries = 0; ; tries++) {
        try {
          return await send();
        } catch (err) {
          if (isContinuingRefusal(err) && tries < 200) {
            await new Promise((r) => setTimeout(r, 100));
            continue;
          }
          if (tries >= 20 || !String(err).includes('RESOURCE_EXHAUSTED')) throw err;
          await new Promise((r) => setTimeout(r, 100 * (tries + 1)));
        }
      }
      async function send(): Promise<{ answer: ReserveAnswer; ms: number }> {
        const answer = await client.workflow.executeUpdateWithStart<never, ReserveAnswer, [ReserveRequest]>(
          reserveUpdateName,
          {
            args: [request],
            startWorkflowOperation: new WithStartWorkflowOperation(quotaWorkflowType, {
              workflowId: quotaWorkflowId(team),
              taskQueue,
              args: [start],
              workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
            }) as never,
          },
        );
        return { answer, ms: performance.now() - t0 };
      }
    };
    // The holders first, one by one so they are admitted before anything queues; then the queue fills.
    const handle = client.workflow.getHandle(quotaWorkflowId(team));
    const fillStart = performance.now();
    const latencies: number[] = [];
    let next = 0;
    const holderIds = ids.slice(0, maxRunning);
    const queuedIds = ids.slice(maxRunning);
    // Holders reserve, but their stand-ins will only release once every queued reservation is in.
    for (const id of holderIds) await reserve(id);
    const fill = async (): Promise<void> => {
      while (next < queuedIds.length) {
        const id = queuedIds[next++]!;
        const { answer, ms } = await reserve(id);
        if (answer.status !== 'queued')
          throw new Error(`expected ${id} queued, got ${JSON.stringify(answer)}`);
        latencies.push(ms);
      }
    };
    await Promise.all(Array.from({ length: concurrency }, fill));
    const fillSeconds = (performance.now() - fillStart) / 1000;
    latencies.sort((a, b) => a - b);
    const before = quotaSnapshotSchema.parse(await handle.query(quotaQueryName));
    process.stdout.write(
      `queued ${before.queue.length} behind ${before.holders.length} holders in ${fillSeconds.toFixed(1)} s ` +
        `(${(queued / fillSeconds).toFixed(1)} reserves/s, ${concurrency} in flight); reserve answer with the queue ` +
        `filling: p50 ${pct(latencies, 50).toFixed(0)} ms, p95 ${pct(latencies, 95).toFixed(0)} ms, max ${pct(latencies, 100).toFixed(0)} ms\n`,
    );
    // The holders were granted in the reserve answer, so their stand-ins never got a signal: tell them now.
    const drainStart = performance.now();
    await Promise.all(
      holderIds.map((id) =>
        client.workflow
          .getHandle(`eval-${id}`)
          .signal('quotaGranted', { admittedAt: new Date().toISOString() }),
      ),
    );
    for (;;) {
      const s = quotaSnapshotSchema.parse(await handle.query(quotaQueryName));
      if (s.admissions >= ids.length && s.holders.length === 0) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const drainSeconds = (performance.now() - drainStart) / 1000;
    // The history of every run of the quota workflow (continue-as-new chain).
    let events = 0;
    let runs = 0;
    let largest = 0;
    for await (const info of client.workflow.list({ query: `WorkflowId = '${quotaWorkflowId(team)}'` })) {
      const h = await client.workflow.getHandle(info.workflowId, info.runId).fetchHistory();
      const n = h.events?.length ?? 0;
      events += n;
      largest = Math.max(largest, n);
      runs++;
    }
    process.stdout.write(
      `admissions: ${queued} queued reservations drained in ${drainSeconds.toFixed(1)} s = ` +
        `${(queued / drainSeconds).toFixed(1)} admissions/s (maxRunning ${maxRunning}; Kueue's performance gate: ~43/s)\n` +
        `history after ${ids.length} admissions: ${events} events over ${runs} runs (continue-as-new every ~2000 events; ` +
        `largest run ${largest} events; ${(events / ids.length).toFixed(1)} events per admission)\n`,
    );
  } finally {
    await client.workflow
      .getHandle(quotaWorkflowId(team))
      .terminate('bench over')
      .catch(() => undefined);
    worker.shutdown();
    await running;
    await native.close();
    await connection.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
