/**
 * Fakes for the log capture's unit tests: an in-memory object store with S3's multipart semantics and injectable
 * failures, and a log source that serves a container log the way the API server does (timestamps, `sinceTime`
 * rounded down to the second, connections that break).
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  PreconditionFailedError,
  StorageRequestError,
  StorageUnavailableError,
} from '../../../src/storage/errors.js';
import type {
  GetOptions,
  MultipartUpload,
  MultipartUploadSummary,
  ObjectInfo,
  ObjectStore,
  ObjectSummary,
  PutOptions,
  PutResult,
  RequestOptions,
  UploadedPart,
} from '../../../src/storage/object-store.js';
import type { LogSource, SourceStream } from '../../../src/logs/source.js';
import { timestampKey } from '../../../src/logs/lines.js';

type Operation = 'put' | 'createMultipart' | 'uploadPart' | 'completeMultipart' | 'exists' | 'head';

/** Decides whether a store call fails: return an error to throw it, undefined to let the call through. */
export type Fault = (operation: Operation, key: string) => Error | undefined;

export const unavailable = (operation: string): StorageUnavailableError =>
  new StorageUnavailableError(operation, 'http://fake', 'connect ECONNREFUSED');
export const forbidden = (operation: string, key: string): StorageRequestError =>
  new StorageRequestError(operation, 'fake', key, 'AccessDenied', 403);

/** An object store in memory. Calls that were sent complete even when the caller aborts meanwhile, as on S3. */
/** An ETag as S3 gives one for a single-part object: the quoted MD5 of the body. */
function etagOf(body: Buffer): string {
  return `"${createHash('md5').update(body).digest('hex')}"`;
}

export class MemoryStore implements ObjectStore {
  readonly bucket = 'fake';
  readonly objects = new Map<string, Buffer>();
  readonly uploads = new Map<string, { key: string; parts: Map<number, { etag: string; body: Buffer }> }>();
  readonly calls: { operation: Operation; key: string }[] = [];
  fault: Fault | null = null;
  #next = 0;

  #call(operation: Operation, key: string): void {
    this.calls.push({ operation, key });
    const err = this.fault?.(operation, key);
    if (err !== undefined) throw err;
  }

  text(key: string): string {
    const body = this.objects.get(key);
    if (body === undefined) throw new Error(`no object ${key}`);
    return body.toString('utf8');
  }

  async put(
    key: string,
    body: Readable | Buffer | Uint8Array | string,
    options: PutOptions = {},
  ): Promise<PutResult> {
    this.#call('put', key);
    let bytes: Buffer;
    if (typeof body === 'string' || body instanceof Uint8Array) {
      bytes = Buffer.from(body);
    } else {
      const chunks: Buffer[] = [];
      for await (const chunk of body) chunks.push(chunk as Buffer);
      bytes = Buffer.concat(chunks);
    }
    // Checked after the body is read, as S3 checks at the end of the request: a write in between wins.
    const condition = options.condition;
    const current = this.objects.get(key);
    if (condition !== undefined) {
      const held =
        'ifMatch' in condition
          ? current !== undefined && etagOf(current) === condition.ifMatch
          : current === undefined;
      if (!held) throw new PreconditionFailedError(this.bucket, key);
    }
    this.objects.set(key, bytes);
    return { key, etag: etagOf(bytes), parts: 1 };
  }

  async exists(key: string): Promise<boolean> {
    this.#call('exists', key);
    return Promise.resolve(this.objects.has(key));
  }

  head(key: string): Promise<ObjectInfo> {
    this.#call('head', key);
    const body = this.objects.get(key);
    if (body === undefined) throw new ObjectNotFoundError(this.bucket, key);
    return Promise.resolve({
      key,
      size: body.length,
      etag: etagOf(body),
      contentType: undefined,
      lastModified: undefined,
      metadata: {},
    });
  }

  createMultipart(key: string): Promise<MultipartUpload> {
    this.#call('createMultipart', key);
    const uploadId = `upload-${++this.#next}`;
    this.uploads.set(uploadId, { key, parts: new Map() });
    return Promise.resolve({ key, uploadId });
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer | Uint8Array | string,
    options?: RequestOptions,
  ): Promise<UploadedPart> {
    // A part is a network round trip: let the capture read on meanwhile. A call aborted before it is sent fails.
    await new Promise((r) => setImmediate(r));
    options?.signal?.throwIfAborted();
    this.#call('uploadPart', key);
    const upload = this.uploads.get(uploadId);
    if (upload?.key !== key) throw new MultipartUploadNotFoundError(this.bucket, key, uploadId);
    const bytes = Buffer.from(body);
    const etag = createHash('md5').update(bytes).digest('hex');
    upload.parts.set(partNumber, { etag, body: bytes });
    return { partNumber, etag, size: bytes.length };
  }

  completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly Pick<UploadedPart, 'partNumber' | 'etag'>[],
  ): Promise<PutResult> {
    this.#call('completeMultipart', key);
    const upload = this.uploads.get(uploadId);
    if (upload?.key !== key) throw new MultipartUploadNotFoundError(this.bucket, key, uploadId);
    const bodies = parts.map((p) => {
      const stored = upload.parts.get(p.partNumber);
      if (stored?.etag !== p.etag)
        throw new StorageRequestError('completeMultipart', 'fake', key, 'InvalidPart', 400);
      return stored.body;
    });
    this.objects.set(key, Buffer.concat(bodies));
    this.uploads.delete(uploadId);
    return Promise.resolve({ key, etag: undefined, parts: parts.length });
  }

  getBytes(key: string, options: GetOptions = {}): Promise<Buffer> {
    const body = this.objects.get(key);
    if (body === undefined) throw new ObjectNotFoundError(this.bucket, key);
    const { range } = options;
    return Promise.resolve(
      range === undefined ? body : body.subarray(range.offset, range.offset + range.length),
    );
  }
  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    return Readable.from([await this.getBytes(key, options)]);
  }
  async *list(prefix: string): AsyncIterable<ObjectSummary> {
    await Promise.resolve();
    for (const [key, body] of [...this.objects].sort(([a], [b]) => a.localeCompare(b))) {
      if (key.startsWith(prefix))
        yield { key, size: body.length, etag: etagOf(body), lastModified: undefined };
    }
  }
  delete(key: string): Promise<void> {
    this.objects.delete(key);
    return Promise.resolve();
  }
  listParts(): Promise<UploadedPart[]> {
    throw new Error('not faked');
  }
  abortMultipart(_key: string, uploadId: string): Promise<void> {
    this.uploads.delete(uploadId);
    return Promise.resolve();
  }
  listMultipartUploads(): AsyncIterable<MultipartUploadSummary> {
    throw new Error('not faked');
  }
  close(): void {}
}

/** One line of a container log as the runtime recorded it. */
export interface LogLine {
  readonly stream: 'Stdout' | 'Stderr';
  readonly ts: string;
  readonly text: string;
  /** False for a last line written without a newline. */
  readonly newline?: boolean;
}

export interface FakeSourceOptions {
  /** Bytes per chunk the stream delivers (lines are cut anywhere). */
  readonly chunkBytes?: number;
  /** The first `breaks` connections fail after `breakAfterBytes` bytes (a connection reset). */
  readonly breaks?: number;
  readonly breakAfterBytes?: number;
}

/** A finished container's log, served like the API server's `pods/log` with `timestamps=true`. */
export class FakeLogSource implements LogSource {
  readonly opens: { stream: SourceStream; since: string | null; follow: boolean }[] = [];
  #breaks: number;

  constructor(
    readonly lines: readonly LogLine[],
    private readonly options: FakeSourceOptions = {},
  ) {
    this.#breaks = options.breaks ?? 0;
  }

  /** What the API server sends for `stream` from `since` (RFC 3339 with seconds only, as `sinceTime` is). */
  served(stream: SourceStream, since: string | null): Buffer {
    const from = since === null ? null : timestampKey(`${since.slice(0, 19)}Z`);
    const text = this.lines
      .filter((l) => stream === null || l.stream === stream)
      .filter((l) => from === null || timestampKey(l.ts) >= from)
      .map((l) => `${l.ts} ${l.text}${l.newline === false ? '' : '\n'}`)
      .join('');
    return Buffer.from(text);
  }

  open(
    stream: SourceStream,
    since: string | null,
    follow: boolean,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Buffer>> {
    this.opens.push({ stream, since, follow });
    const body = this.served(stream, since);
    const chunk = this.options.chunkBytes ?? 97;
    const breakAt = this.#breaks-- > 0 ? (this.options.breakAfterBytes ?? 500) : Infinity;
    return Promise.resolve(
      (async function* () {
        for (let i = 0; i < body.length; i += chunk) {
          signal.throwIfAborted();
          if (i >= breakAt) throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
          yield body.subarray(i, Math.min(i + chunk, body.length));
          // The next chunk arrives later: uploads and timers get their turn, as on a socket.
          await new Promise((r) => setImmediate(r));
        }
      })(),
    );
  }

  state(): Promise<'ended'> {
    return Promise.resolve('ended');
  }
}
