/**
 * The executor conformance suite (issue 19; docs/migration.md): the same cases on both executors — a Kubernetes Job
 * on the stack's cluster and a container on the stack's Docker engine — through one worker whose registry holds both
 * and whose `executors:` rollout sends each team to one of them. Real Temporal, Kubernetes, Docker and S3. Beside the
 * per-executor cases: a worker SIGKILLed mid-run on both executors and restarted with a team flipped from docker to
 * kubernetes (worker child processes with config files), and the ten real `docker run` lines converted and, where
 * portable, run on both.
 *
 * Split logs: the issue asks for 200,000 lines byte-exact. The SIGKILL case prints 200,000 lines on each executor and
 * checks every one of them stored once, in order, per stream, across the kill; the split-log case prints 20,000 per
 * stream. Raised to 100,000 per stream (`ASSAY_CONFORMANCE_SPLIT_LINES=100000`, 200,000 lines per evaluation) it passed
 * on both but took the file from 49 to 92 s (measured back to back on 2 cores), more than the ~40 s this file may add
 * to CI; the case alone takes 19 s instead of 7 s.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import { printManifest } from '../../src/client/cli/migrate.js';
import { createDockerEngine, parseEvents } from '../../src/executors/docker/engine.js';
import type { KubeClients } from '../../src/kube/clients.js';
import type { LogEvent } from '../../src/logs/events.js';
import { readDockerRun } from '../../src/migrate/docker-run.js';
import { parseEvaluationJob } from '../../src/spec/index.js';
import { labelKeys } from '../../src/spec/kube-labels.js';
import type { EvaluationRecord } from '../../src/spec/record.js';
import type { S3ObjectStore } from '../../src/storage/index.js';
import { localStackCollector } from '../../src/workers/config.js';
import { freeLoopbackPort } from '../../src/workers/temporal-metrics.js';
import { observeEvaluation } from '../support/cluster-observer.js';
import { dockerRunInputs, dockerRunLines, words } from '../support/docker-run-lines.js';
import {
  createWorkerProcesses,
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import {
  chainedTracebackScript,
  expectAllLines,
  numberedLines,
  pendingCapture,
  storedLogParts,
} from '../support/log-capture.js';
import { waitFor } from '../support/wait-for.js';
import { BUSYBOX, PYTHON, eventually } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const taskQueue = `assay-conf-${runTag}`;
const executors = ['kubernetes', 'docker'] as const;
const teamOf = (executor: string): string => `conf-${executor === 'docker' ? 'dk' : 'k8s'}-${runTag}`;
const dockerSocket = (process.env.ASSAY_DOCKER_HOST ?? '').replace(/^unix:\/\//, '');
/** Lines per stream of the split-log case (see the comment at the top). */
const splitLinesPerStream = Number(process.env.ASSAY_CONFORMANCE_SPLIT_LINES ?? 20_000);

let harness: EvaluationHarness;
let client: AssayClient;
let kube: KubeClients;
let store: S3ObjectStore;

beforeAll(async () => {
  if (dockerSocket === '')
    throw new Error('ASSAY_DOCKER_HOST is not set: is the stack up with its docker component?');
  harness = await startEvaluationHarness({
    taskQueue,
    extraClusters: [{ name: 'local-docker', executor: 'docker', docker: { socket: dockerSocket } }],
    executors: { default: 'kubernetes', teams: { [teamOf('docker')]: 'docker' } },
  });
  ({ client, kube, store } = harness);
}, 180_000);

afterAll(async () => {
  workerProcesses.killAll();
  await harness?.close();
  // The docker team's namespace exists once its flip to Kubernetes has run an evaluation there.
  for (const executor of executors)
    await kube?.core.deleteNamespace({ name: `assay-${teamOf(executor)}` }).catch(() => undefined);
  if (configDir !== undefined) await rm(configDir, { recursive: true, force: true });
}, 60_000);

const workerProcesses = createWorkerProcesses();
let configDir: string | undefined;

/**
 * A worker config file as an operator writes one: the stack's cluster and Docker engine, `teams` as the rollout,
 * metrics on `metricsPort`.
 */
async function workerConfigFile(
  name: string,
  teams: Record<string, string>,
  metricsPort: number,
): Promise<string> {
  configDir ??= await mkdtemp(join(tmpdir(), 'assay-conformance-'));
  const path = join(configDir, `${name}.json`);
  const config = {
    clusters: [
      { name: 'local', kubeconfig: { path: process.env.KUBECONFIG ?? null }, collector: localStackCollector },
      { name: 'local-docker', executor: 'docker', docker: { socket: dockerSocket } },
    ],
    executors: { default: 'kubernetes', teams },
    metrics: { port: metricsPort, host: '127.0.0.1' },
  };
  await writeFile(path, JSON.stringify(config));
  return path;
}

/** How many containers the engine created for `evaluationId` since `since` (epoch s), from its event log. */
async function dockerCreates(evaluationId: string, since: number): Promise<number> {
  const engine = createDockerEngine(dockerSocket);
  const res = await engine.stream('/events', {
    query: {
      since,
      until: Math.ceil(Date.now() / 1000) + 1,
      filters: JSON.stringify({
        type: ['container'],
        event: ['create'],
        label: [`${labelKeys.evaluationId}=${evaluationId}`],
      }),
    },
  });
  let creates = 0;
  for await (const event of parseEvents(res)) if (event.Action === 'create') creates++;
  return creates;
}

async function text(key: string | null | undefined): Promise<string> {
  if (key == null) throw new Error('no key');
  return (await store.getBytes(key)).toString('utf8');
}

/**
 * Worker SIGKILL mid-run on both executors, and a team flipped from docker to kubernetes, in one restart: a worker
 * process serving both executors runs one evaluation on each, printing for 40 s; it is SIGKILLed while both print,
 * once both captures run and the Docker one has stored a part (it resumes from a checkpoint); its replacement's config
 * sends the docker team to
 * Kubernetes. Both evaluations finish where they started with every line stored once, one container or Job; the
 * docker team's next evaluation runs on Kubernetes; the new worker's metrics count each by executor.
 */
function workerKilledAndTeamFlipped(): void {
  it.concurrent(
    'worker SIGKILLed mid-run, restarted with the docker team flipped to kubernetes: both finish where they ' +
      'started, nothing lost, one container / one Job; the next runs on Kubernetes',
    async () => {
      const crashQueue = `assay-conf-crash-${runTag}`;
      const crashClient = new AssayClient(client.temporal, { taskQueue: crashQueue });
      const dk = teamOf('docker');
      const k8s = teamOf('kubernetes');
      const [portA, portB] = [await freeLoopbackPort(), await freeLoopbackPort()];
      const before = await workerConfigFile('before', { [dk]: 'docker' }, portA);
      const after = await workerConfigFile('after', { [dk]: 'kubernetes' }, portB);
      // 200,000 lines of ~100 bytes at 5,000/s for 40 s: the events file passes the 5 MiB part size ~6 s in, so the
      // kill comes while both mains print (at 10,000/s for 20 s, a fresh-clone run saw the pod end before the kill).
      const total = 200_000;
      const spec = {
        image: PYTHON,
        resources: { cpu: '500m', memory: '128Mi', ephemeralStorage: '64Mi' },
        timeoutSeconds: 300,
        retries: { maxAttempts: 1 },
        command: ['python3', '-c', numberedLines(total, 5_000)],
      };
      const ids = { docker: newId('crash-dk'), kubernetes: newId('crash-k8s') };
      const since = Math.floor(Date.now() / 1000) - 1;
      const observer = await observeEvaluation(kube, ids.kubernetes);
      try {
        const first = await workerProcesses.start(crashQueue, { ASSAY_WORKER_CONFIG: before });
        const start = (executor: (typeof executors)[number]) =>
          crashClient.start(manifestBuilder({ team: teamOf(executor), defaults: spec })({}), {
            idempotencyKey: ids[executor],
          });
        // The pod first, then the container (which starts in a second or two), so that both print at once.
        await start('kubernetes');
        await observer.runningPod(1, 90_000);
        await start('docker');
        // Both captures run; the Docker one has stored a part, so it resumes from a checkpoint. (The Kubernetes
        // capture's resume from a checkpoint is logs.test.ts's; here it can lag its pod by 20 s on a loaded machine.)
        await Promise.all(
          executors.map((executor) =>
            waitFor(async () => (await pendingCapture(client.temporal, ids[executor]))?.started, {
              timeoutMs: 90_000,
              what: `the log capture of ${ids[executor]} (${executor}) to run`,
            }),
          ),
        );
        await waitFor(async () => (await storedLogParts(store, ids.docker)) > 0, {
          timeoutMs: 90_000,
          what: `a stored log part of ${ids.docker}`,
        });
        // Mid-run: both mains still print.
        const container = await createDockerEngine(dockerSocket).json<{ State: { Status: string } }>(
          `/containers/assay-${ids.docker}-1/json`,
        );
        expect([container.body.State.Status, observer.pods().map((p) => p.mainRunning)]).toEqual([
          'running',
          [true],
        ]);
        await workerProcesses.kill(first);
        await workerProcesses.start(crashQueue, { ASSAY_WORKER_CONFIG: after });
        const records = {
          docker: await crashClient.result(ids.docker),
          kubernetes: await crashClient.result(ids.kubernetes),
        };
        for (const executor of executors) {
          const record = records[executor];
          expect(record).toMatchObject({ outcome: 'Succeeded', exitCode: 0, executor });
          expect(record.attempts).toHaveLength(1);
          await expectAllLines(store, record, total);
        }
        expect(await dockerCreates(ids.docker, since)).toBe(1);
        expect(observer.gaps()).toEqual([]);
        expect(observer.jobs().map((j) => j.name)).toEqual([`assay-${ids.kubernetes}-1`]);
        // The flip applies to what starts after it.
        const next = await crashClient.start(
          manifestBuilder({ team: dk, defaults: { image: BUSYBOX, command: ['true'] } })({
            resources: { cpu: '100m', memory: '32Mi', ephemeralStorage: '64Mi' },
          }),
          { idempotencyKey: newId('flipped') },
        );
        expect(await crashClient.result(next.evaluationId)).toMatchObject({
          outcome: 'Succeeded',
          executor: 'kubernetes',
          cluster: 'local',
        });
        // The records were written by the new worker: its counter has each under its executor.
        const metrics = await (await fetch(`http://127.0.0.1:${portB}/metrics`)).text();
        const counted = metrics
          .split('\n')
          .filter((l) => l.startsWith('assay_evaluations_total{') && (l.includes(dk) || l.includes(k8s)))
          .sort();
        expect(counted).toEqual([
          `assay_evaluations_total{team="${dk}",outcome="Succeeded",executor="docker"} 1`,
          `assay_evaluations_total{team="${dk}",outcome="Succeeded",executor="kubernetes"} 1`,
          `assay_evaluations_total{team="${k8s}",outcome="Succeeded",executor="kubernetes"} 1`,
        ]);
        // The same scrape carries the Temporal SDK's own worker metrics and the evaluation durations, no family
        // twice (docs/quota.md, "Metrics").
        const scraped = metrics.split('\n');
        expect(scraped).toContain('assay_worker_temporal_metrics_up 1');
        const samples = (prefix: string): boolean => scraped.some((l) => l.startsWith(prefix));
        expect([
          samples('temporal_worker_task_slots_available{'),
          samples('temporal_workflow_task_schedule_to_start_latency_count{'),
          samples('assay_evaluations_in_phase{phase="Running"}'),
        ]).toEqual([true, true, true]);
        const durations = scraped.filter(
          (l) => l.startsWith('assay_evaluation_duration_seconds_count{') && l.includes(`team="${dk}"`),
        );
        expect(durations).toEqual([expect.stringMatching(/outcome="Succeeded".* 2$/)]);
        const comments = scraped.filter((l) => /^# (HELP|TYPE) /.test(l));
        expect(comments.filter((l, i) => comments.indexOf(l) !== i)).toEqual([]);
      } finally {
        observer.stop();
      }
    },
    240_000,
  );
}

/**
 * `assay migrate docker-run` on the ten real lines of test/unit/migrate (test/support/docker-run-lines.ts): each
 * gives a manifest the schema accepts (exit 0, through the command's own printing and checks), and each portable one,
 * its image swapped for the local stand-in and its resources made small, ends the same on both executors: outcome,
 * exit code, result and stdout.
 */
function migratedLines(): void {
  it.concurrent(
    'assay migrate docker-run on ten real lines: every manifest validates; the portable ones end the same on both',
    async () => {
      expect(dockerRunLines).toHaveLength(10);
      type Manifest = Record<string, unknown> & { spec: Record<string, unknown> };
      const manifests = dockerRunLines.map(({ line }) => (team: string): Manifest => {
        let out = '';
        const io = {
          stdout: { write: (t: string) => (out += t) },
          stderr: { write: () => undefined },
          env: {},
          readFile: dockerRunInputs.readFile,
        };
        const code = printManifest(
          readDockerRun(words(line), dockerRunInputs),
          { team, user: 'tester', output: 'json' },
          io,
        );
        expect({ line, code }).toEqual({ line, code: 0 });
        const manifest = JSON.parse(out) as Manifest;
        expect(parseEvaluationJob(manifest).ok).toBe(true);
        return manifest;
      });
      for (const m of manifests) m('validation-only');
      const portable = dockerRunLines.flatMap((l, i) => (l.local !== undefined ? [{ ...l, i }] : []));
      expect(portable.length).toBeGreaterThanOrEqual(5);
      const runs = portable.flatMap(({ i, local }) =>
        executors.map(async (executor) => {
          const manifest = manifests[i]!(teamOf(executor));
          // The name would be the id of both runs; the labels stay (they become the pod's and the container's).
          delete (manifest.metadata as { name?: string } | undefined)?.name;
          Object.assign(manifest.spec, {
            image: local!.image,
            resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '64Mi' },
            retries: { maxAttempts: 1 },
          });
          const started = await client.start(manifest, {
            idempotencyKey: newId(`migrate${i}-${executor.slice(0, 3)}`),
          });
          const record = await client.result(started.evaluationId);
          const logs = record.attempts[0]?.logs;
          return {
            executor,
            line: i,
            outcome: record.outcome,
            exitCode: record.exitCode,
            result: record.result,
            stdout: logs?.stdout != null ? await text(logs.stdout) : null,
          };
        }),
      );
      const ended = await Promise.all(runs);
      for (const { i, local } of portable) {
        const expected = {
          line: i,
          outcome: local!.outcome,
          exitCode: local!.exitCode,
          result: null,
          stdout: local!.stdout,
        };
        expect(ended.filter((e) => e.line === i)).toEqual(
          executors.map((executor) => ({ executor, ...expected })),
        );
      }
    },
    180_000,
  );
}

/** The cases each executor must pass, named after it. */
function conformanceCases(executor: (typeof executors)[number]): void {
  const manifest = manifestBuilder({
    team: teamOf(executor),
    defaults: {
      image: BUSYBOX,
      resources: { cpu: '500m', memory: '64Mi', ephemeralStorage: '64Mi' },
      timeoutSeconds: 300,
      retries: { maxAttempts: 1 },
    },
  });
  const run = async (label: string, spec: Record<string, unknown>): Promise<EvaluationRecord> => {
    const started = await client.start(manifest(spec), {
      idempotencyKey: newId(`${label}-${executor.slice(0, 3)}`),
    });
    return await client.result(started.evaluationId);
  };

  it.concurrent(
    `${executor}: exit 0 and exit 3; the record names the executor`,
    async () => {
      const [ok, three] = await Promise.all([
        run('ok', { command: ['sh', '-c', 'echo fine'] }),
        run('three', { command: ['sh', '-c', 'exit 3'] }),
      ]);
      expect(ok).toMatchObject({ outcome: 'Succeeded', exitCode: 0, executor });
      expect(three).toMatchObject({ outcome: 'Failed', exitCode: 3, reason: 'Error', executor });
      expect(ok.cluster).toBe(executor === 'docker' ? 'local-docker' : 'local');
      expect(ok.attempts).toHaveLength(1);
      // `assay list` reads the executor from visibility (the memo the workflow sets), which is eventually consistent.
      const listed = await waitFor(
        async () =>
          (await client.list({ team: teamOf(executor), cluster: ok.cluster!, limit: 1000 })).find(
            (e) => e.evaluationId === ok.evaluationId && e.executor !== null,
          ),
        { timeoutMs: 30_000, what: `assay list to show ${ok.evaluationId} with its executor` },
      );
      expect(listed).toMatchObject({ executor, cluster: ok.cluster, outcome: 'Succeeded' });
      // Filtered by another cluster, it is not there.
      const elsewhere = await client.list({ team: teamOf(executor), cluster: 'nowhere', limit: 1000 });
      expect(elsewhere.map((e) => e.evaluationId)).not.toContain(ok.evaluationId);
    },
    150_000,
  );

  it.concurrent(
    `${executor}: OOM`,
    async () => {
      const record = await run('oom', {
        resources: { cpu: '500m', memory: '32Mi', ephemeralStorage: '64Mi' },
        command: ['sh', '-c', 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo ${#x}'],
      });
      expect(record).toMatchObject({ outcome: 'Failed', reason: 'OOMKilled' });
    },
    150_000,
  );

  it.concurrent(
    `${executor}: timeout: stopped at timeoutSeconds, TimedOut with the killed exit code`,
    async () => {
      const record = await run('timeout', { timeoutSeconds: 3, command: ['sh', '-c', 'sleep 60'] });
      expect(record).toMatchObject({ outcome: 'TimedOut', reason: 'DeadlineExceeded' });
      expect(record.exitCode).not.toBe(0);
      const a = record.attempts[0]!;
      const ran = (Date.parse(a.finishedAt!) - Date.parse(a.startedAt!)) / 1000;
      expect(ran).toBeGreaterThanOrEqual(2);
      expect(ran).toBeLessThan(10);
    },
    150_000,
  );

  it.concurrent(
    `${executor}: split logs, byte-exact (${splitLinesPerStream.toLocaleString('en')} lines per stream)`,
    async () => {
      const n = splitLinesPerStream;
      const record = await run('logs', {
        command: [
          'sh',
          '-c',
          `i=1; while [ $i -le ${n} ]; do echo "out $i"; echo "err $i" >&2; i=$((i+1)); done`,
        ],
      });
      expect(record.outcome).toBe('Succeeded');
      const logs = record.attempts[0]!.logs!;
      expect(logs.split).toBe(true);
      const lines = (prefix: string): string =>
        Array.from({ length: n }, (_, i) => `${prefix} ${i + 1}\n`).join('');
      expect(await text(logs.stdout)).toBe(lines('out'));
      expect(await text(logs.stderr)).toBe(lines('err'));
      expect(logs.lines).toBe(2 * n);
    },
    150_000,
  );

  it.concurrent(
    `${executor}: a chained Python traceback is one event on stderr`,
    async () => {
      const record = await run('tb', {
        image: PYTHON,
        resources: { cpu: '500m', memory: '128Mi', ephemeralStorage: '64Mi' },
        command: ['python3', '-c', chainedTracebackScript],
      });
      expect(record).toMatchObject({ outcome: 'Failed', reason: 'Error', exitCode: 1 });
      const events = (await text(record.attempts[0]!.logs!.events))
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as LogEvent);
      expect(events.map((e) => [e.stream, e.kind])).toEqual([
        ['stdout', 'line'],
        ['stderr', 'traceback'],
      ]);
      const tb = events[1]!;
      expect(tb.text).toMatch(/^Traceback \(most recent call last\):/);
      expect(tb.text).toContain('The above exception was the direct cause of the following exception:');
      expect(tb.text).toMatch(/RuntimeError: cannot load the model$/);
      expect(tb.lines).toBe(tb.text.split('\n').length);
      expect(tb.time).toMatch(/^\d{4}-\d\d-\d\dT/);
    },
    150_000,
  );

  it.concurrent(
    `${executor}: result file and artifacts, the hostile ones refused`,
    async () => {
      const good = await run('outputs', {
        result: { maxBytes: '1Mi' },
        artifacts: { maxFiles: 10, maxBytes: '1Mi' },
        command: [
          'sh',
          '-c',
          'echo \'{"score":0.75}\' > "$ASSAY_RESULT_PATH" && mkdir -p "$ASSAY_ARTIFACTS_DIR/sub" && ' +
            'echo one > "$ASSAY_ARTIFACTS_DIR/a.txt" && echo two > "$ASSAY_ARTIFACTS_DIR/sub/b.txt"',
        ],
      });
      expect(good.outcome).toBe('Succeeded');
      expect(good.result).toEqual({ score: 0.75 });
      expect(good.artifacts.map((a) => `${a.path}:${a.bytes}`).sort()).toEqual(['a.txt:4', 'sub/b.txt:4']);
      const hostile = await run('hostile', {
        artifacts: { maxFiles: 10, maxBytes: '1Mi' },
        command: [
          'sh',
          '-c',
          'cd "$ASSAY_ARTIFACTS_DIR" && echo fine > ok.txt && ln -s /etc/passwd passwd && mkfifo pipe',
        ],
      });
      expect(hostile).toMatchObject({ outcome: 'Failed', reason: 'ArtifactViolation' });
      const kinds = hostile.artifactsSummary!.violations.map((v) => `${v.kind}:${v.path}`).sort();
      expect(kinds).toEqual(expect.arrayContaining(['linkOutside:passwd', 'specialFile:pipe']));
      expect(hostile.artifacts.map((a) => a.path)).toEqual(['ok.txt']);
    },
    150_000,
  );

  it.concurrent(
    `${executor}: cancel mid-run: Cancelled, the log so far kept, nothing left behind`,
    async () => {
      const started = await client.start(manifest({ command: ['sh', '-c', 'echo started; sleep 120'] }), {
        idempotencyKey: newId(`cancel-${executor.slice(0, 3)}`),
      });
      await eventually('the attempt to print', async () => {
        const s = await client.status(started.evaluationId);
        return s.phase === 'Running' && s.attempts[0]?.startedAt !== undefined ? true : undefined;
      });
      await new Promise((r) => setTimeout(r, 3000));
      await client.cancel(started.evaluationId);
      const record = await client.result(started.evaluationId);
      expect(record.outcome).toBe('Cancelled');
      const name = `assay-${started.evaluationId}-1`;
      if (executor === 'docker') {
        const engine = createDockerEngine(dockerSocket);
        await expect(engine.json(`/containers/${name}/json`)).rejects.toMatchObject({ statusCode: 404 });
      } else {
        await eventually('the Job to be gone', async () => {
          const jobs = await kube.batch.listNamespacedJob({ namespace: `assay-${teamOf(executor)}` });
          return jobs.items.some((j) => j.metadata?.name === name) ? undefined : true;
        });
      }
    },
    150_000,
  );
}

/**
 * One describe block, so that every case of both executors is one group of concurrent tests (Jest runs describe
 * blocks one after another and at most `maxConcurrency`, 5, tests of a group at once): the long ones first.
 */
describe('executor conformance', () => {
  workerKilledAndTeamFlipped();
  migratedLines();
  for (const executor of executors) conformanceCases(executor);
});
