import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { defineSearchAttributeKey } from '@temporalio/common';
import { NativeConnection, Worker } from '@temporalio/worker';
import { ulid } from 'ulid';
import {
  collect,
  createS3ObjectStore,
  loadS3Config,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  type S3ObjectStore,
} from '../../src/storage/index.js';
import { installQuietTemporalRuntime } from '../support/temporal.js';
import { stackTestEnv } from '../support/test-env.js';
import * as activities from './fixtures/foundation-activities.js';

// The foundation against the real local stack: a workflow and an activity on the real Temporal dev server with a real
// worker, found again through a visibility query on an Assay search attribute; objects round-tripped through the
// storage module on the real S3 server.

const runId = ulid().toLowerCase();
const MiB = 1024 * 1024;

describe('Temporal dev server', () => {
  const env = stackTestEnv();
  const taskQueue = `foundation-${runId}`;
  let connection: Connection;
  let client: Client;
  let nativeConnection: NativeConnection;
  let worker: Worker;
  let workerRun: Promise<void>;

  beforeAll(async () => {
    installQuietTemporalRuntime();
    connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    client = new Client({ connection, namespace: env.TEMPORAL_NAMESPACE });
    nativeConnection = await NativeConnection.connect({ address: env.TEMPORAL_ADDRESS });
    worker = await Worker.create({
      connection: nativeConnection,
      namespace: env.TEMPORAL_NAMESPACE,
      taskQueue,
      workflowBundle: { codePath: env.ASSAY_TEST_WORKFLOW_BUNDLE },
      activities,
    });
    workerRun = worker.run();
  });

  afterAll(async () => {
    worker?.shutdown();
    await workerRun;
    await nativeConnection?.close();
    await connection?.close();
  });

  it('runs a workflow with an activity on a real worker and finds it by an Assay search attribute', async () => {
    const team = `team-${runId}`;
    const workflowId = `foundation-${runId}`;
    const handle = await client.workflow.start('foundationWorkflow', {
      taskQueue,
      workflowId,
      args: [{ team, name: 'assay' }],
      workflowExecutionTimeout: '1 minute',
    });

    await expect(handle.result()).resolves.toBe(`hello, assay, from ${taskQueue}`);

    // Visibility is eventually consistent: poll until the upserts are indexed, with a deadline.
    const phase = defineSearchAttributeKey('AssayPhase', 'KEYWORD');
    const exitCode = defineSearchAttributeKey('AssayExitCode', 'INT');
    const deadline = Date.now() + 20_000;
    let found: { workflowId: string; phase: string | undefined; exitCode: number | undefined }[] = [];
    while (Date.now() < deadline) {
      found = [];
      for await (const wf of client.workflow.list({
        query: `AssayTeam = '${team}' AND AssayPhase = 'Succeeded'`,
      })) {
        found.push({
          workflowId: wf.workflowId,
          phase: wf.typedSearchAttributes.get(phase),
          exitCode: wf.typedSearchAttributes.get(exitCode),
        });
      }
      if (found.length > 0) break;
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(found).toEqual([{ workflowId, phase: 'Succeeded', exitCode: 0 }]);
  }, 60_000);
});

describe('object storage on the S3 server', () => {
  const prefix = `test/foundation/${runId}/`;
  let store: S3ObjectStore;

  beforeAll(() => {
    // 5 MiB parts (S3's minimum) so a streamed put of a few MiB already goes multipart.
    store = createS3ObjectStore(loadS3Config(process.env), { partSizeBytes: 5 * MiB });
  });

  afterAll(async () => {
    for (const upload of await collect(store.listMultipartUploads(prefix))) {
      await store.abortMultipart(upload.key, upload.uploadId);
    }
    for (const object of await collect(store.list(prefix))) await store.delete(object.key);
    store.close();
  });

  it('puts, reads, heads and lists a small object', async () => {
    const key = `${prefix}small/record.json`;
    const body = JSON.stringify({ evaluationId: runId, outcome: 'Succeeded' });
    const put = await store.put(key, body, {
      contentType: 'application/json',
      metadata: { 'evaluation-id': runId },
    });
    expect(put.parts).toBe(1);

    expect((await store.getBytes(key)).toString('utf8')).toBe(body);
    const streamed = await collectStream(await store.get(key));
    expect(streamed.toString('utf8')).toBe(body);

    const info = await store.head(key);
    expect(info).toMatchObject({
      key,
      size: Buffer.byteLength(body),
      contentType: 'application/json',
      metadata: { 'evaluation-id': runId },
    });
    expect(await store.exists(key)).toBe(true);
    expect((await collect(store.list(`${prefix}small/`))).map((o) => o.key)).toEqual([key]);
  });

  it('streams a multi-MiB body of unknown length up in parts and back, byte for byte', async () => {
    const key = `${prefix}large/stdout.log`;
    const size = 12 * MiB + 12_345;
    const source = pseudoRandomStream(size, 64 * 1024);
    const put = await store.put(key, source.stream, { contentType: 'text/plain' });

    // 12 MiB in 5 MiB parts: three parts, and S3's multipart ETag says so too.
    expect(put.parts).toBe(3);
    const info = await store.head(key);
    expect(info.size).toBe(size);
    expect(info.etag).toMatch(/-3"?$/);

    const hash = createHash('sha256');
    for await (const chunk of await store.get(key)) hash.update(chunk as Buffer);
    expect(hash.digest('hex')).toBe(source.sha256());
  }, 60_000);

  it('assembles an object from parts sent one by one, as resumable log capture does', async () => {
    const key = `${prefix}parts/events.ndjson`;
    const first = Buffer.alloc(5 * MiB, 'a');
    const second = Buffer.from('the end\n');
    const { uploadId } = await store.createMultipart(key, { contentType: 'application/x-ndjson' });

    const p1 = await store.uploadPart(key, uploadId, 1, first);
    await store.uploadPart(key, uploadId, 2, second);
    // After a crash a capture resumes from what the store holds.
    const listed = await store.listParts(key, uploadId);
    expect(listed.map((p) => [p.partNumber, p.size])).toEqual([
      [1, first.length],
      [2, second.length],
    ]);
    expect(listed[0]?.etag).toBe(p1.etag);

    await store.completeMultipart(key, uploadId, listed);
    const bytes = await store.getBytes(key);
    expect(bytes.length).toBe(first.length + second.length);
    expect(bytes.subarray(first.length).toString()).toBe('the end\n');

    const aborted = await store.createMultipart(`${prefix}parts/aborted.log`);
    await store.abortMultipart(aborted.key, aborted.uploadId);
    await expect(store.uploadPart(aborted.key, aborted.uploadId, 1, 'x')).rejects.toBeInstanceOf(
      MultipartUploadNotFoundError,
    );
  });

  it('deletes idempotently and reports a missing object with ObjectNotFoundError', async () => {
    const key = `${prefix}gone.txt`;
    await store.put(key, 'soon gone');
    await store.delete(key);
    await store.delete(key);

    expect(await store.exists(key)).toBe(false);
    await expect(store.get(key)).rejects.toMatchObject({
      name: 'ObjectNotFoundError',
      code: 'OBJECT_NOT_FOUND',
      key,
    });
    await expect(store.head(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
    await expect(store.getBytes(key)).rejects.toBeInstanceOf(ObjectNotFoundError);
  });
});

async function collectStream(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A stream of `size` deterministic pseudo-random bytes (incompressible, unlike a repeated pattern), produced chunk by
 * chunk so the test never holds the whole body; its sha256 is known once the stream has been read.
 */
function pseudoRandomStream(size: number, chunkSize: number): { stream: Readable; sha256: () => string } {
  const hash = createHash('sha256');
  let produced = 0;
  let seed = 0x2545f491;
  const stream = new Readable({
    read() {
      if (produced >= size) {
        this.push(null);
        return;
      }
      const n = Math.min(chunkSize, size - produced);
      const chunk = Buffer.allocUnsafe(n);
      for (let i = 0; i < n; i++) {
        // xorshift32: cheap, deterministic, good enough to defeat compression.
        seed ^= seed << 13;
        seed ^= seed >>> 17;
        seed ^= seed << 5;
        chunk[i] = seed & 0xff;
      }
      produced += n;
      hash.update(chunk);
      this.push(chunk);
    },
  });
  return { stream, sha256: () => hash.digest('hex') };
}
