/**
 * Results and artifacts out of the pod on the real stack (issue 6): real Temporal, Kubernetes, S3 and workers — in
 * this process for most tests, as child processes where the worker's memory is measured or the worker is killed.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { AssayClient } from '../../src/client/assay-client.js';
import type { StoredManifest } from '../../src/activities/artifacts.js';
import type { KubeClients } from '../../src/kube/clients.js';
import { retentionIndexKey } from '../../src/retention/keys.js';
import { retentionSweep } from '../../src/workflows/retention.js';
import { ensureRetentionSchedule } from '../../src/retention/schedule.js';
import { openArtifact } from '../../src/artifacts/read.js';
import type { ArtifactEntry, EvaluationRecord } from '../../src/spec/record.js';
import { storageKeys } from '../../src/spec/storage-keys.js';
import { collect } from '../../src/storage/object-store.js';
import type { S3ObjectStore } from '../../src/storage/index.js';
import {
  createWorkerProcesses,
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import { BUSYBOX, eventually } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `art-${runTag}`;
const namespace = `assay-${team}`;
const taskQueue = `assay-art-${runTag}`;

let harness: EvaluationHarness;
let client: AssayClient;
let kube: KubeClients;
let store: S3ObjectStore;
/** Workers as child processes, where a test measures a worker's memory or kills one. */
const workerProcesses = createWorkerProcesses();

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    resources: { cpu: '500m', memory: '64Mi', ephemeralStorage: '256Mi' },
    timeoutSeconds: 600,
    retries: { maxAttempts: 1 },
  },
});

/** The stored manifest (`artifacts.json`), parsed. */
function parseManifest(text: string): StoredManifest {
  return JSON.parse(text) as StoredManifest;
}

async function sha256Of(entry: ArtifactEntry): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await openArtifact(store, entry)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Runs the `assay` CLI against this test's task queue; resolves with its exit code and output. */
function assay(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/assay.js', ...args],
      { env: { ...process.env, ASSAY_TASK_QUEUE: taskQueue }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : 1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Peak resident memory of a process so far (VmHWM), in bytes. */
async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmHWM:\s+(\d+) kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmHWM for ${pid}`);
  return Number(kb) * 1024;
}

beforeAll(async () => {
  harness = await startEvaluationHarness({ taskQueue });
  ({ client, kube, store } = harness);
}, 180_000);

afterAll(async () => {
  workerProcesses.killAll();
  await harness?.close();
  await kube?.core.deleteNamespace({ name: namespace }).catch(() => undefined);
}, 60_000);

describe('results', () => {
  it('a 3 KB result via the termination message and a 2 MB one via the result file', async () => {
    const small = await client.start(
      manifest({
        command: [
          'sh',
          '-c',
          `printf '{"pad":"%s"}' "$(head -c 3000 /dev/zero | tr '\\0' a)" > /dev/termination-log`,
        ],
      }),
      { idempotencyKey: newId('res3k') },
    );
    const large = await client.start(
      manifest({
        result: { maxBytes: '4Mi' },
        command: [
          'sh',
          '-c',
          `printf '{"pad":"%s"}' "$(head -c 2000000 /dev/zero | tr '\\0' b)" > "$ASSAY_RESULT_PATH"`,
        ],
      }),
      { idempotencyKey: newId('res2m') },
    );
    const [a, b] = await Promise.all([client.result(small.evaluationId), client.result(large.evaluationId)]);

    expect(a.outcome).toBe('Succeeded');
    expect((a.result as { pad: string }).pad).toHaveLength(3000);
    expect(a.resultInfo).toMatchObject({ source: 'terminationMessage', bytes: 3010, inline: true });
    expect(JSON.parse((await store.getBytes(storageKeys.result(a.evaluationId, 1))).toString())).toEqual(
      a.result,
    );

    expect(b.outcome).toBe('Succeeded');
    // Too large for history: the record carries its key and digest; the object holds it.
    expect(b.result).toBeNull();
    expect(b.resultInfo).toMatchObject({ source: 'file', bytes: 2_000_010, inline: false });
    const stored = await store.getBytes(b.resultInfo!.key);
    expect((JSON.parse(stored.toString()) as { pad: string }).pad).toHaveLength(2_000_000);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(b.resultInfo!.sha256);
    // A pod without declared outputs has no collector.
    expect(a.artifactsSummary).toBeNull();
    // `assay result ID` prints the whole result, read back from its object.
    const printed = await assay(['result', b.evaluationId, '-o', 'json']);
    expect(printed.code).toBe(0);
    expect((JSON.parse(printed.stdout) as { result: { pad: string } }).result.pad).toHaveLength(2_000_000);
  }, 240_000);
});

describe('a hostile pod', () => {
  it('exports nothing outside its directory; every violation is in the record and the outcome', async () => {
    const script = [
      'cd "$ASSAY_ARTIFACTS_DIR"',
      'echo fine > ok.txt',
      'ln -s /etc/passwd passwd',
      'mkdir -p deep && ln -s ../../../etc deep/up',
      "touch '..\\..\\evil'",
      'mkfifo pipe',
      'for i in 1 2 3 4 5 6; do echo $i > n$i.txt; done',
    ].join(' && ');
    const started = await client.start(
      manifest({ artifacts: { maxFiles: 4, maxBytes: '1Mi' }, command: ['sh', '-c', script] }),
      { idempotencyKey: newId('hostile') },
    );
    const record = await client.result(started.evaluationId);
    expect(record.outcome).toBe('Failed');
    expect(record.reason).toBe('ArtifactViolation');
    const kinds = record.artifactsSummary!.violations.map((v) => `${v.kind}:${v.path}`).sort();
    expect(kinds).toEqual(
      expect.arrayContaining([
        'linkOutside:passwd',
        'linkOutside:deep/up',
        'invalidName:artifacts/..\\..\\evil',
        'specialFile:pipe',
      ]),
    );
    expect(kinds.filter((k) => k.startsWith('tooManyFiles'))).toHaveLength(3);
    // The four admitted files, small, are packed: each manifest entry is a range of a pack under the evaluation.
    const stored4 = parseManifest(
      (await store.getBytes(storageKeys.artifactsManifest(started.evaluationId))).toString(),
    );
    const artifacts = stored4.entries.map((e) => e.path).sort();
    expect(artifacts).toHaveLength(4);
    expect(artifacts.every((p) => /^(ok|n[0-9])\.txt$/.test(p))).toBe(true);
    for (const entry of stored4.entries) {
      expect(entry.key.startsWith(storageKeys.evaluationPrefix(started.evaluationId))).toBe(true);
      expect(entry.offset).toBeGreaterThanOrEqual(0);
      expect(await sha256Of(entry)).toBe(entry.sha256);
    }
    // Nothing was written outside the evaluation's prefix.
    const outside = (await collect(store.list('evaluations/'))).filter(
      (o) =>
        /passwd|evil/.test(o.key) && !o.key.startsWith(storageKeys.evaluationPrefix(started.evaluationId)),
    );
    expect(outside).toEqual([]);
    const stored = JSON.parse(
      (await store.getBytes(storageKeys.record(started.evaluationId))).toString(),
    ) as EvaluationRecord;
    expect(stored.artifactsSummary?.violationCount).toBe(record.artifactsSummary?.violationCount);

    // `assay artifacts ID` lists the manifest and the refusals; `--download` fetches and checks each sha256.
    const listed = await assay(['artifacts', started.evaluationId]);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toContain(artifacts[0]);
    expect(listed.stdout).toContain('linkOutside');
    const dir = await mkdtemp(join(tmpdir(), 'assay-artifacts-'));
    try {
      const downloaded = await assay(['artifacts', started.evaluationId, '--download', dir]);
      expect(downloaded.code).toBe(0);
      expect((await readdir(dir)).sort()).toEqual(artifacts);
      for (const entry of stored4.entries) {
        const chunks: Buffer[] = [];
        for await (const chunk of await openArtifact(store, entry)) chunks.push(chunk as Buffer);
        expect(await readFile(join(dir, entry.path))).toEqual(Buffer.concat(chunks));
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});

describe('large artifacts', () => {
  const writeFiles = (bigBytes: number): string =>
    [
      'cd "$ASSAY_ARTIFACTS_DIR"',
      'mkdir -p a/b/c reports',
      'echo nested > a/b/c/deep.txt',
      'echo "{\\"k\\":1}" > reports/r.json',
      'head -c 12345 /dev/urandom > a/b/mid.bin',
      `head -c ${bigBytes} /dev/urandom > big.bin`,
      // The in-pod digests, as the JSON result: {"path": "sha256", …}.
      'find . -type f | sort | xargs sha256sum | awk \'BEGIN{printf "{"} {sub(/^\\.\\//,"",$2); printf "%s\\"%s\\":\\"%s\\"", (NR>1?",":""), $2, $1} END{printf "}"}\' > "$ASSAY_RESULT_PATH"',
    ].join(' && ');
  const spec = (bigBytes: number): Record<string, unknown> => ({
    resources: { cpu: '1', memory: '64Mi', ephemeralStorage: '3Gi' },
    artifacts: { maxBytes: '2Gi' },
    result: { path: 'sums.json', maxBytes: '64Ki' },
    command: ['sh', '-c', writeFiles(bigBytes)],
  });

  async function expectArtifacts(evaluationId: string, sums: Record<string, string>): Promise<void> {
    const manifest = JSON.parse(
      (await store.getBytes(storageKeys.artifactsManifest(evaluationId))).toString(),
    ) as StoredManifest;
    expect(manifest.entries.map((e) => e.path).sort()).toEqual(Object.keys(sums).sort());
    for (const entry of manifest.entries) {
      expect(entry.sha256).toBe(sums[entry.path]);
      expect(await sha256Of(entry)).toBe(entry.sha256);
    }
  }

  it('nested files and one 1.5 GB file arrive with the right sha256; the worker memory stays bounded', async () => {
    const queue = `${taskQueue}-big`;
    const worker = await workerProcesses.start(queue);
    const idle = await peakRss(worker.pid!);
    const bigClient = new AssayClient(client.temporal, { taskQueue: queue });
    const started = await bigClient.start(manifest(spec(1_500_000_000)), { idempotencyKey: newId('big') });
    const record = await bigClient.result(started.evaluationId);
    const peak = await peakRss(worker.pid!);
    process.stderr.write(
      `[artifacts] worker peak RSS: ${(idle / 2 ** 20).toFixed(0)} MiB when serving, ${(peak / 2 ** 20).toFixed(0)} MiB after a 1.5 GB artifact\n`,
    );
    expect(record.outcome).toBe('Succeeded');
    expect(Object.keys(record.result as object)).toHaveLength(4);
    await expectArtifacts(started.evaluationId, record.result as Record<string, string>);
    expect(record.artifacts.map((a) => a.path).sort()).toEqual([
      'a/b/c/deep.txt',
      'a/b/mid.bin',
      'big.bin',
      'reports/r.json',
    ]);
    expect(record.artifactsSummary?.files).toBe(4);
    expect(record.artifactsSummary?.bytes).toBeGreaterThan(1_500_000_000);
    expect(peak).toBeLessThan(700 * 2 ** 20);
  }, 600_000);

  it('a worker killed during the upload: the retry stores complete, correct objects and no partial one', async () => {
    const queue = `${taskQueue}-kill`;
    const first = await workerProcesses.start(queue);
    const killClient = new AssayClient(client.temporal, { taskQueue: queue });
    const started = await killClient.start(manifest(spec(250_000_000)), { idempotencyKey: newId('kill') });
    const bigKey = `${storageKeys.artifactsPrefix(started.evaluationId)}big.bin`;
    await eventually(
      'the upload of big.bin under way',
      async () => {
        const uploads = await collect(
          store.listMultipartUploads(storageKeys.artifactsPrefix(started.evaluationId)),
        );
        return uploads.some((u) => u.key === bigKey) ? true : undefined;
      },
      300_000,
    );
    await workerProcesses.kill(first);
    // Never a partial object under the final key.
    expect(await store.exists(bigKey)).toBe(false);
    await workerProcesses.start(queue);
    const record = await killClient.result(started.evaluationId);
    expect(record.outcome).toBe('Succeeded');
    await expectArtifacts(started.evaluationId, record.result as Record<string, string>);
    expect((await store.head(bigKey)).size).toBe(250_000_000);
    expect(
      await collect(store.listMultipartUploads(storageKeys.artifactsPrefix(started.evaluationId))),
    ).toEqual([]);
  }, 600_000);
});

describe('retention', () => {
  it('the scheduled sweep deletes every object of expired evaluations and keeps the others', async () => {
    const expired = newId('expired');
    const kept = newId('kept');
    const past = new Date(Date.now() - 86_400_000).toISOString();
    const future = new Date(Date.now() + 30 * 86_400_000).toISOString();
    for (const [id, until] of [
      [expired, past],
      [kept, future],
    ] as const) {
      await store.put(retentionIndexKey(until, id), '');
      await store.put(storageKeys.record(id), JSON.stringify({ evaluationId: id, retentionUntil: until }));
      await store.put(storageKeys.stdout(id, 1), 'log');
      await store.put(`${storageKeys.artifactsPrefix(id)}a/b.txt`, 'artifact');
    }
    await store.createMultipart(`${storageKeys.artifactsPrefix(expired)}partial.bin`);

    const swept: { evaluations: number } = await client.temporal.workflow.execute(retentionSweep, {
      taskQueue,
      workflowId: `sweep-${runTag}-${ulid().toLowerCase()}`,
      args: [{}],
    });
    expect(swept.evaluations).toBeGreaterThanOrEqual(1);
    expect(await collect(store.list(storageKeys.evaluationPrefix(expired)))).toEqual([]);
    expect(await collect(store.listMultipartUploads(storageKeys.evaluationPrefix(expired)))).toEqual([]);
    expect(await store.exists(retentionIndexKey(past, expired))).toBe(false);
    expect((await collect(store.list(storageKeys.evaluationPrefix(kept)))).map((o) => o.key).sort()).toEqual(
      [
        storageKeys.record(kept),
        `${storageKeys.artifactsPrefix(kept)}a/b.txt`,
        storageKeys.stdout(kept, 1),
      ].sort(),
    );
    for (const o of await collect(store.list(storageKeys.evaluationPrefix(kept)))) await store.delete(o.key);
    await store.delete(retentionIndexKey(future, kept));

    // The Temporal Schedule that runs it (idempotent creation).
    const scheduleId = `assay-retention-sweep-test-${runTag}`;
    try {
      expect(await ensureRetentionSchedule(client.temporal, { taskQueue, scheduleId })).toBe(true);
      expect(await ensureRetentionSchedule(client.temporal, { taskQueue, scheduleId })).toBe(false);
      const description = await client.temporal.schedule.getHandle(scheduleId).describe();
      expect(description.action).toMatchObject({ type: 'startWorkflow', workflowType: 'retentionSweep' });
    } finally {
      await client.temporal.schedule.getHandle(scheduleId).delete();
    }
  }, 120_000);

  it('the record says when its objects expire', async () => {
    const started = await client.start(manifest({ command: ['true'], retentionDays: 7 }), {
      idempotencyKey: newId('ret'),
    });
    const record = await client.result(started.evaluationId);
    const until = new Date(record.retentionUntil!).getTime();
    expect(Math.abs(until - (Date.now() + 7 * 86_400_000))).toBeLessThan(600_000);
    expect(await store.exists(retentionIndexKey(record.retentionUntil!, started.evaluationId))).toBe(true);
  }, 120_000);
});
