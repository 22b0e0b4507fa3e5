/**
 * The `assay` CLI and the demo as a user runs them: real processes, real stack. The CLI talks to workers started in
 * this process on an isolated task queue (`ASSAY_TASK_QUEUE`); the demo script starts its own worker.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { NativeConnection } from '@temporalio/worker';
import { ulid } from 'ulid';
import { stringify } from 'yaml';
import { createKubeClients, type KubeClients } from '../../src/kube/clients.js';
import { evaluationRecordSchema, type EvaluationRecord } from '../../src/spec/record.js';
import { workerConfigSchema } from '../../src/spec/worker-config.js';
import { createS3ObjectStore, loadS3Config } from '../../src/storage/index.js';
import { loadWorkflowBundle, startWorkers, type RunningWorkers } from '../../src/workers/run.js';
import { projectRoot, runAssay, runCommand, type CommandRun } from '../support/cli.js';
import { observeEvaluation, waitUntilGone } from '../support/cluster-observer.js';
import { installQuietTemporalRuntime } from '../support/temporal.js';
import { stackTestEnv } from '../support/test-env.js';
import { waitFor } from '../support/wait-for.js';

const env = stackTestEnv();
const tag = ulid().toLowerCase().slice(-8);
const team = `e2e-${tag}`;
const taskQueue = `assay-e2e-${tag}`;

let dir: string;
let kube: KubeClients;
let nativeConnection: NativeConnection;
let workers: RunningWorkers;

/** `assay` against this suite's task queue. */
function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<CommandRun> {
  return runAssay(args, { ASSAY_TASK_QUEUE: taskQueue, ...extraEnv });
}

async function manifestFile(name: string, spec: Record<string, unknown>): Promise<string> {
  const file = join(dir, `${name}.yaml`);
  await writeFile(
    file,
    stringify({
      apiVersion: 'assay.dev/v1',
      kind: 'EvaluationJob',
      metadata: {},
      spec: {
        team,
        user: 'cli',
        image: 'localhost/assay/busybox:1',
        resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '64Mi' },
        timeoutSeconds: 120,
        ...spec,
      },
    }),
  );
  return file;
}

beforeAll(async () => {
  installQuietTemporalRuntime();
  dir = await mkdtemp(join(tmpdir(), 'assay-e2e-'));
  kube = createKubeClients({ kind: 'kubeconfig', path: process.env.KUBECONFIG ?? null, context: null });
  nativeConnection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
  workers = await startWorkers(
    workerConfigSchema.parse({
      temporal: { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE },
      taskQueue,
      clusters: [{ name: 'local', kubeconfig: { path: process.env.KUBECONFIG ?? null } }],
      shutdownGraceSeconds: 2,
    }),
    {
      connection: nativeConnection,
      store: createS3ObjectStore(loadS3Config()),
      bundle: await loadWorkflowBundle(env.ASSAY_TEST_WORKFLOW_BUNDLE),
    },
  );
}, 120_000);

afterAll(async () => {
  workers?.shutdown();
  await workers?.done;
  await nativeConnection?.close();
  await rm(dir, { force: true, recursive: true });
  await kube?.core.deleteNamespace({ name: `assay-${team}` }).catch(() => undefined);
}, 60_000);

describe('assay CLI', () => {
  it('run with an invalid manifest prints every field error and exits 2', async () => {
    const file = await manifestFile('invalid', { resources: { memory: '12 parsecs' }, timeoutSeconds: 0 });
    const result = await cli(['run', '-f', file, '--wait']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('spec.resources.memory');
    expect(result.stderr).toContain('spec.timeoutSeconds');
  }, 60_000);

  it('run --wait -o json prints the record and exits 0; status, logs and list find it; --id is idempotent', async () => {
    const id = `cli-ok-${tag}`;
    const file = await manifestFile('ok', {
      command: [
        'sh',
        '-c',
        'echo to-stdout; echo to-stderr >&2; echo \'{"ok":true}\' > /dev/termination-log',
      ],
    });
    const result = await cli(['run', '-f', file, '--id', id, '--wait', '-o', 'json']);
    expect(result.stdout).not.toContain('\u001b['); // no spinner when stdout is not a terminal
    expect(result.code).toBe(0);
    const record: EvaluationRecord = evaluationRecordSchema.parse(JSON.parse(result.stdout));
    expect(record).toMatchObject({
      evaluationId: id,
      outcome: 'Succeeded',
      exitCode: 0,
      result: { ok: true },
    });
    expect(record.attempts[0]).toMatchObject({ attempt: 1, job: `assay-${id}-1`, exitCode: 0 });
    expect(record.attempts[0]?.logs?.stdout).toBe(`evaluations/${id}/attempts/1/stdout.log`);

    const again = await cli(['run', '-f', file, '--id', id, '-o', 'json']);
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ evaluationId: id, existing: true });

    const status = await cli(['status', id, '-o', 'json']);
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({
      evaluationId: id,
      phase: 'Completed',
      outcome: 'Succeeded',
    });

    const logs = await cli(['logs', id]);
    expect(logs.code).toBe(0);
    expect(logs.stdout).toBe('to-stdout\n');
    expect(logs.stderr).toContain('to-stderr\n');

    // Visibility is eventually consistent: poll `list` with a deadline rather than reading it once.
    const listed = await waitFor(
      async () => {
        const list = await cli(['list', '--team', team, '-o', 'json']);
        if (list.code !== 0) throw new Error(`list exited ${list.code}: ${list.stderr}`);
        const ids = (JSON.parse(list.stdout) as { evaluationId: string }[]).map((e) => e.evaluationId);
        return ids.includes(id) ? ids : undefined;
      },
      { timeoutMs: 30_000, what: `assay list --team ${team} to show ${id}` },
    );
    expect(listed).toContain(id);

    const result2 = await cli(['result', id]);
    expect(result2.code).toBe(0);
    expect(result2.stdout).toContain('Succeeded');
  }, 120_000);

  it('a failing evaluation exits 1, a missing image exits 3', async () => {
    const failed = await cli([
      'run',
      '-f',
      await manifestFile('fail', { command: ['sh', '-c', 'exit 7'] }),
      '--wait',
    ]);
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain('Failed');
    const noImage = await cli([
      'run',
      '-f',
      await manifestFile('noimage', { image: 'localhost/assay/nope:1', command: ['true'] }),
      '--wait',
      '-o',
      'yaml',
    ]);
    expect(noImage.code).toBe(3);
    expect(noImage.stdout).toContain('outcome: ConfigurationError');
  }, 120_000);

  it('cancel ends a running evaluation: result exits 4, its Job and pod are gone', async () => {
    const id = `cli-cancel-${tag}`;
    const observer = await observeEvaluation(kube, id);
    try {
      const started = await cli([
        'run',
        '-f',
        await manifestFile('long', { command: ['sleep', '600'] }),
        '--id',
        id,
      ]);
      expect(started.code).toBe(0);
      // The pod must really run before the cancel, as the API server shows it; a pod that never started fails here.
      await observer.runningPod(1, 90_000);
      // …and `status` says so, as a user would check.
      await waitFor(
        async () => {
          const s = await cli(['status', id, '-o', 'json']);
          return s.code === 0 && (JSON.parse(s.stdout) as { phase: string }).phase === 'Running';
        },
        { timeoutMs: 30_000, what: `assay status ${id} to say Running` },
      );
      const cancel = await cli(['cancel', id]);
      expect(cancel.code).toBe(0);
      const result = await cli(['result', id, '-o', 'json']);
      expect(result.code).toBe(4);
      expect(JSON.parse(result.stdout)).toMatchObject({ outcome: 'Cancelled' });
      await waitUntilGone(kube, id, 60_000);
      expect(observer.gaps()).toEqual([]);
      expect(observer.jobs().map((j) => [j.name, j.deleted])).toEqual([[`assay-${id}-1`, true]]);
      expect(observer.pods().map((p) => [p.mainRanSeen, p.deleted])).toEqual([[true, true]]);
    } finally {
      observer.stop();
    }
  }, 180_000);

  it('an unknown evaluation id exits 2', async () => {
    const result = await cli(['status', `nope-${tag}`]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no evaluation');
  }, 60_000);
});

describe('scripts/demo', () => {
  it('runs the sample evaluation and prints the outcome, the log keys and the Web UI link', async () => {
    const result = await runCommand('bash', [join(projectRoot, 'scripts', 'demo')], {
      ASSAY_TASK_QUEUE: `assay-demo-${tag}`,
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/outcome\s+Succeeded/);
    expect(result.stdout).toMatch(/log\s+s3:\/\/\S+\/attempts\/1\/stdout\.log/);
    expect(result.stdout).toMatch(/web ui\s+http:\/\/\S+\/workflows\/eval-/);
    expect(result.stderr).toContain('round 5/5');
    expect(result.stderr).toContain('warning: Monte Carlo');
    // The example is named pi-estimate; the demo runs it under a fresh id, so a second demo is a new evaluation.
    expect(result.stdout).toMatch(/again: npx assay logs pi-estimate-\d{8}-\d{6}-[0-9a-f]{6} /);
    expect(result.stderr).not.toContain('already exists');
  }, 600_000);
});
