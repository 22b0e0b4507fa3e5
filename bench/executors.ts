// Benchmark: a trivial evaluation's end-to-end time on each executor (prints figures; asserts nothing). One worker,
// as `npm run worker` runs it, serves the stack's cluster `local` and its Docker engine `local-docker`; the team
// `bench-k8s` runs on Kubernetes and `bench-docker` on Docker (the `executors:` rollout). Rounds alternate the two,
// each AssayClient.start → result (the record stored), sequentially. Needs the local stack:
// eval "$(npm run --silent stack -- env)"; then: npx tsx bench/executors.ts [--rounds 10]
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { ulid } from 'ulid';
import { AssayClient } from '../src/client/assay-client.js';
import { startWorkerProcess } from '../src/workers/child-process.js';

const rounds = Number(process.argv[process.argv.indexOf('--rounds') + 1] || 10);
const socket = (process.env.ASSAY_DOCKER_HOST ?? '').replace(/^unix:\/\//, '');
if (socket === '') throw new Error('ASSAY_DOCKER_HOST is not set (eval "$(npm run --silent stack -- env)")');
const taskQueue = `assay-bench-exec-${ulid().toLowerCase().slice(-8)}`;
const teams = { kubernetes: 'bench-k8s', docker: 'bench-docker' } as const;
const configFile = join(tmpdir(), `${taskQueue}.json`);
await writeFile(
  configFile,
  JSON.stringify({
    clusters: [
      {
        name: 'local',
        kubeconfig: { path: process.env.KUBECONFIG ?? null },
        collector: { image: 'localhost/assay/collector:1', imagePullPolicy: 'Never' },
      },
      { name: 'local-docker', executor: 'docker', docker: { socket } },
    ],
    executors: { default: 'kubernetes', teams: { [teams.docker]: 'docker' } },
  }),
);
const worker = await startWorkerProcess(taskQueue, {
  ASSAY_RETENTION_SETUP: 'false',
  ASSAY_WORKER_CONFIG: configFile,
});
const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
const client = new AssayClient(new Client({ connection }), { taskQueue });
const manifest = (team: string) => ({
  apiVersion: 'assay.dev/v1',
  kind: 'EvaluationJob',
  metadata: {},
  spec: {
    team,
    user: 'bench',
    image: 'localhost/assay/busybox:1',
    command: ['sh', '-c', 'echo hello'],
    resources: { cpu: '100m', memory: '32Mi' },
  },
});
const times: Record<keyof typeof teams, number[]> = { kubernetes: [], docker: [] };
try {
  for (let round = 0; round <= rounds; round++) {
    for (const executor of ['kubernetes', 'docker'] as const) {
      const id = `bx-${executor.slice(0, 3)}-${ulid().toLowerCase()}`;
      const t0 = performance.now();
      await client.start(manifest(teams[executor]), { idempotencyKey: id });
      const record = await client.result(id);
      const ms = performance.now() - t0;
      if (record.outcome !== 'Succeeded' || record.executor !== executor)
        throw new Error(`${id}: ${record.outcome} on ${record.executor ?? '?'}: ${record.message ?? ''}`);
      if (round > 0) times[executor].push(ms); // round 0 warms both paths up (namespace, first image use)
    }
  }
} finally {
  worker.kill('SIGTERM');
  await connection.close();
}
const pct = (xs: number[], p: number): number =>
  [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)]!;
for (const [executor, xs] of Object.entries(times)) {
  console.log(
    `${executor.padEnd(10)} n=${xs.length} p50 ${(pct(xs, 0.5) / 1000).toFixed(2)} s  p95 ${(pct(xs, 0.95) / 1000).toFixed(2)} s`,
  );
}
