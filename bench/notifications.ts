/**
 * Benchmark of notification webhooks: how long after an evaluation ends its endpoint receives the terminal event.
 * Prints figures; asserts nothing. Needs the local stack:
 *   eval "$(npm run --silent stack -- env)"; npx tsx bench/notifications.ts [--runs 20]
 *
 * Assay's workers run in this process on a throw-away task queue, allow-listing `localhost`; a receiver on
 * 127.0.0.1 answers 204 and notes when each request arrives. `--runs` trivial evaluations (busybox `true`) run one
 * after the other (after one warm-up), each with one webhook subscribed to `succeeded`. Per run:
 * - end → delivery: from the record's `timings.finishedAt` (the evaluation's end, set just before the record is
 *   written) to the arrival of the `succeeded` request;
 * - close → delivery: from the evaluation workflow's close time (Temporal's clock, this machine) to the arrival —
 *   negative when the request arrives before the workflow has closed;
 * - baseline: end → `AssayClient.result` returning, what a client waiting on the evaluation sees, and a bare POST
 *   to the same receiver through undici (its round trip).
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Command } from 'commander';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { request } from 'undici';
import { ulid } from 'ulid';
import { AssayClient } from '../src/client/assay-client.js';
import { createKubeClients } from '../src/kube/clients.js';
import { evaluationWorkflowId } from '../src/spec/names.js';
import { workerConfigSchema } from '../src/spec/worker-config.js';
import { busyboxImage } from '../src/stack/images/catalog.js';
import { imageRef } from '../src/stack/images/local-images.js';
import { createS3ObjectStore, loadS3Config } from '../src/storage/index.js';
import { localStackCollector } from '../src/workers/config.js';
import { loadWorkflowBundle, startWorkers } from '../src/workers/run.js';

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i] ?? NaN;
}
function line(name: string, values: number[]): string {
  const s = [...values].sort((a, b) => a - b);
  const f = (ms: number): string => `${ms.toFixed(0).padStart(6)} ms`;
  return `${name.padEnd(34)} p50 ${f(percentile(s, 50))}  p95 ${f(percentile(s, 95))}  min ${f(s[0] ?? NaN)}  max ${f(s[s.length - 1] ?? NaN)}  (n=${s.length})`;
}

async function main(): Promise<void> {
  const options = new Command()
    .option('--runs <n>', 'measured evaluations', (v) => Number(v), 20)
    .parse()
    .opts<{ runs: number }>();
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const tag = ulid().toLowerCase().slice(-6);
  const team = `bench-wh-${tag}`;
  const taskQueue = `bench-wh-${tag}`;
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const arrivals = new Map<string, number>();
  const server = createServer((req, res) => {
    const at = Date.now();
    req.resume();
    req.on('end', () => {
      arrivals.set(req.headers['webhook-id'] as string, at);
      res.writeHead(204).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const connection = await Connection.connect({ address });
  const native = await NativeConnection.connect({ address });
  const client = new AssayClient(new Client({ connection }), { taskQueue });
  const kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  const workers = await startWorkers(
    workerConfigSchema.parse({
      temporal: { address },
      taskQueue,
      clusters: [
        {
          name: 'local',
          kubeconfig: { path: process.env.KUBECONFIG ?? null },
          collector: localStackCollector,
        },
      ],
      shutdownGraceSeconds: 2,
      notifications: { allow: ['localhost'] },
    }),
    { connection: native, store: createS3ObjectStore(loadS3Config()), bundle: await loadWorkflowBundle() },
  );
  const endToDelivery: number[] = [];
  const closeToDelivery: number[] = [];
  const endToResult: number[] = [];
  const barePost: number[] = [];
  try {
    for (let run = 0; run <= options.runs; run++) {
      const id = `bwh-${tag}-${run}`;
      await client.start(
        {
          apiVersion: 'assay.dev/v1',
          kind: 'EvaluationJob',
          metadata: {},
          spec: {
            team,
            user: 'bench',
            image: imageRef(busyboxImage),
            command: ['true'],
            resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '64Mi' },
            webhooks: [{ url: `http://localhost:${port}/hook`, events: ['succeeded'] }],
          },
        },
        { idempotencyKey: id },
      );
      const record = await client.result(id);
      const resultAt = Date.now();
      const messageId = `msg_${id}_succeeded_1`;
      const deadline = Date.now() + 120_000;
      while (!arrivals.has(messageId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
      const arrived = arrivals.get(messageId);
      const closeTime = (await client.temporal.workflow.getHandle(evaluationWorkflowId(id)).describe())
        .closeTime;
      const t0 = performance.now();
      const bare = await request(`http://127.0.0.1:${port}/bare`, { method: 'POST', body: '{}' });
      await bare.body.dump();
      const bareMs = performance.now() - t0;
      if (run === 0) continue; // warm-up: namespace, image cache, JIT
      if (arrived === undefined || record.timings.finishedAt === null || closeTime === undefined) {
        process.stderr.write(`run ${run}: no delivery within 120 s\n`);
        continue;
      }
      const end = Date.parse(record.timings.finishedAt);
      endToDelivery.push(arrived - end);
      closeToDelivery.push(arrived - closeTime.getTime());
      endToResult.push(resultAt - end);
      barePost.push(bareMs);
      process.stderr.write(`run ${run}: end → delivery ${arrived - end} ms\n`);
    }
  } finally {
    workers.shutdown();
    await workers.done;
    await native.close();
    await connection.close();
    server.close();
    await kube.core.deleteNamespace({ name: `assay-${team}` }).catch(() => undefined);
  }
  process.stdout.write(`notification delay over ${endToDelivery.length} sequential evaluations\n`);
  process.stdout.write(`${line('end → terminal event delivered', endToDelivery)}\n`);
  process.stdout.write(`${line('workflow close → delivered', closeToDelivery)}\n`);
  process.stdout.write(`${line('baseline: end → result() returns', endToResult)}\n`);
  process.stdout.write(`${line('baseline: bare POST round trip', barePost)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/notifications: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exitCode = 1;
});
