/**
 * The worker as production starts it (`src/workers/main.ts`, workflows bundled from `src/workers/run.ts`'s
 * `workflowsPath`, the default `local` cluster from the environment) on a task queue of its own: it serves an
 * evaluation end to end on the real stack, sets up the retention sweep's schedule for its queue like any other queue,
 * and a second worker on the same queue starts without failing or creating a second schedule. Its log is JSON, and
 * every activity line names the evaluation, the attempt, the activity and the cluster.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { AssayClient } from '../../src/client/assay-client.js';
import { retentionScheduleId } from '../../src/retention/keys.js';
import { janitorScheduleId } from '../../src/janitor/schedule.js';
import { clusterMonitorWorkflowId } from '../../src/placement/view.js';
import { manifestBuilder, newId } from '../support/evaluation-harness.js';
import { stackTestEnv } from '../support/test-env.js';
import { BUSYBOX } from './kube/cluster.js';

const queue = newId('assay-it-queue');
const team = newId('itq');
const env = stackTestEnv();

type LogLine = Record<string, unknown> & { msg?: string; level?: string };

/** A worker child process and the JSON lines it has written to stderr so far. */
interface WorkerChild {
  readonly process: ChildProcess;
  readonly lines: LogLine[];
  /** Everything written to stderr that is not a JSON object, which must stay empty. */
  readonly other: string[];
}

const children: WorkerChild[] = [];

/**
 * Starts `src/workers/main.ts` on `queue` with `extraEnv`; resolves once it logs its `serving …` line, rejects with its
 * stderr if it exits first.
 */
function startWorker(extraEnv: Record<string, string | undefined>): Promise<WorkerChild> {
  const childEnv: Record<string, string | undefined> = {
    ...process.env,
    ASSAY_TASK_QUEUE: queue,
    ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS: '1',
    ASSAY_LOG_LEVEL: 'debug',
    ...extraEnv,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/workers/main.ts'], {
    cwd: process.cwd(),
    env: childEnv,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const worker: WorkerChild = { process: child, lines: [], other: [] };
  children.push(worker);
  let pending = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const complete = pending.split('\n');
      pending = complete.pop() ?? '';
      for (const text of complete) {
        if (text === '') continue;
        try {
          const line = JSON.parse(text) as LogLine;
          worker.lines.push(line);
          if (line.msg?.startsWith('serving ') === true) resolve(worker);
        } catch {
          worker.other.push(text);
        }
      }
    });
    child.on('exit', (code) =>
      reject(
        new Error(
          `worker exited with ${code}: ${[...worker.lines.map((l) => JSON.stringify(l)), ...worker.other].join('\n')}`,
        ),
      ),
    );
  });
}

async function stop(worker: WorkerChild): Promise<void> {
  if (worker.process.exitCode !== null || worker.process.signalCode !== null) return;
  const exited = new Promise((r) => worker.process.once('exit', r));
  worker.process.kill('SIGTERM');
  await exited;
}

let connection: Connection;
let temporalClient: Client;
let client: AssayClient;

beforeAll(async () => {
  connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  temporalClient = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
  client = new AssayClient(temporalClient, { taskQueue: queue });
});

afterAll(async () => {
  await Promise.all(children.map(stop));
  await temporalClient?.schedule
    .getHandle(retentionScheduleId(queue))
    .delete()
    .catch(() => undefined);
  // The janitor's schedule is set up beside it (docs/kubernetes.md, "The janitor").
  await temporalClient?.schedule
    .getHandle(janitorScheduleId(queue))
    .delete()
    .catch(() => undefined);
  // And the cluster monitor (docs/multi-cluster.md, "Health and capacity").
  await temporalClient?.workflow
    .getHandle(clusterMonitorWorkflowId(queue))
    .terminate('test over')
    .catch(() => undefined);
  await connection?.close();
});

describe('a worker on its own task queue, started as in production', () => {
  let first: WorkerChild;

  beforeAll(async () => {
    // No prebuilt bundle: the worker bundles src/workflows itself, as `npm run worker` does.
    first = await startWorker({ ASSAY_WORKFLOW_BUNDLE: undefined, ASSAY_RETENTION_SETUP: undefined });
  }, 240_000);

  it('bundled the workflows itself and serves its queue and its cluster queue', () => {
    const serving = first.lines.find((l) => l.msg?.startsWith('serving ') === true);
    expect(serving).toMatchObject({
      level: 'info',
      name: 'assay-worker',
      taskQueues: [queue, `${queue}-cluster-local`],
      workflowBundle: 'bundled at start-up',
    });
    expect(first.other).toEqual([]);
  });

  it("created its queue's retention sweep schedule", async () => {
    expect(first.lines).toContainEqual(
      expect.objectContaining({ scheduleId: retentionScheduleId(queue), status: 'created' }),
    );
    const description = await temporalClient.schedule.getHandle(retentionScheduleId(queue)).describe();
    expect(description.action).toMatchObject({
      type: 'startWorkflow',
      workflowType: 'retentionSweep',
      taskQueue: queue,
    });
  });

  it('serves an evaluation end to end, its result file read through the collector the stack provides', async () => {
    const manifest = manifestBuilder({
      team,
      defaults: {
        image: BUSYBOX,
        resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '64Mi' },
        timeoutSeconds: 120,
      },
    });
    const id = newId('queue');
    const started = await client.start(
      manifest({
        command: ['sh', '-c', `echo '{"queue":"custom"}' > "$ASSAY_RESULT_PATH"`],
        result: { maxBytes: '4Ki' },
      }),
      { idempotencyKey: id },
    );
    const record = await client.result(started.evaluationId);
    expect(record.outcome).toBe('Succeeded');
    expect(record.result).toEqual({ queue: 'custom' });

    // Every activity line carries the evaluation, its attempt, the activity type and the cluster.
    const activityLines = first.lines.filter(
      (l) => l.evaluationId === started.evaluationId && typeof l.activityType === 'string',
    );
    expect(activityLines.map((l) => l.activityType)).toEqual(
      expect.arrayContaining(['selectCluster', 'createJob', 'awaitAttempt']),
    );
    const createJob = activityLines.filter((l) => l.activityType === 'createJob');
    expect(createJob.map((l) => l.msg)).toEqual(['Activity started', 'Activity completed']);
    for (const line of createJob) {
      expect(line).toMatchObject({ cluster: 'local', attempt: 1, taskQueue: `${queue}-cluster-local` });
    }
    // The SDK's "started" line precedes the input; every line after it names the Job attempt too.
    expect(createJob[1]).toMatchObject({ evaluationAttempt: 1 });
    // The workflow queue serves no cluster: its lines have none (the SDK drops null attributes).
    expect(activityLines.find((l) => l.activityType === 'selectCluster')?.cluster).toBeUndefined();
  }, 180_000);

  it('a second worker on the same queue starts, finds the schedule and leaves it as it is', async () => {
    const before = await temporalClient.schedule.getHandle(retentionScheduleId(queue)).describe();
    const second = await startWorker({ ASSAY_WORKFLOW_BUNDLE: env.ASSAY_TEST_WORKFLOW_BUNDLE });
    expect(second.lines).toContainEqual(
      expect.objectContaining({ scheduleId: retentionScheduleId(queue), status: 'exists' }),
    );
    const after = await temporalClient.schedule.getHandle(retentionScheduleId(queue)).describe();
    expect(after.info.createdAt).toEqual(before.info.createdAt);
    await stop(second);
  }, 120_000);

  it('with ASSAY_RETENTION_SETUP=false sets up nothing', async () => {
    const quiet = await startWorker({
      ASSAY_WORKFLOW_BUNDLE: env.ASSAY_TEST_WORKFLOW_BUNDLE,
      ASSAY_RETENTION_SETUP: 'false',
    });
    expect(quiet.lines.some((l) => l.component === 'retention')).toBe(false);
    await stop(quiet);
  }, 120_000);
});
