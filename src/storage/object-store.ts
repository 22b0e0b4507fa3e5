import type { Readable } from 'node:stream';
import { InvalidObjectKeyError } from './errors.js';

/**
 * The object-store port: what Assay needs from an S3-compatible store (logs, results, artifacts, the cost ledger,
 * evaluation records). Keys are relative to one bucket, chosen when the store is created.
 *
 * Every method rejects with a {@link StorageError} subclass (see `errors.ts`), never with an SDK error.
 */
export interface ObjectStore {
  /** The bucket this store reads and writes, for messages and records. */
  readonly bucket: string;

  /**
   * Writes an object, streaming: a `Readable` of unknown length is sent in parts with bounded memory, so a
   * multi-GiB artifact never sits in memory. Overwrites an existing object.
   *
   * @throws {InvalidObjectKeyError} for an empty or over-long key.
   * @throws {StorageUnavailableError} when the store cannot be reached (retryable).
   */
  put(key: string, body: Readable | Buffer | Uint8Array | string, options?: PutOptions): Promise<PutResult>;

  /**
   * Reads an object as a stream. The caller must consume or destroy it.
   *
   * @throws {ObjectNotFoundError} when the object does not exist.
   */
  get(key: string, options?: GetOptions): Promise<Readable>;

  /**
   * Reads a whole object into memory — only for objects known to be small (records, results).
   *
   * @throws {ObjectNotFoundError} when the object does not exist.
   */
  getBytes(key: string, options?: GetOptions): Promise<Buffer>;

  /**
   * Reads an object's metadata.
   *
   * @throws {ObjectNotFoundError} when the object does not exist.
   */
  head(key: string, options?: RequestOptions): Promise<ObjectInfo>;

  /** True when the object exists. */
  exists(key: string, options?: RequestOptions): Promise<boolean>;

  /** Lists objects whose keys start with `prefix`, in key order, fetching pages lazily. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ObjectSummary>;

  /** Deletes an object. Deleting a missing object succeeds (delete is idempotent). */
  delete(key: string, options?: RequestOptions): Promise<void>;

  /**
   * Starts a multipart upload whose parts the caller sends one by one — e.g. log capture, which heartbeats the
   * upload id and the parts sent so far, and after a crash resumes with {@link listParts}.
   */
  createMultipart(key: string, options?: PutOptions): Promise<MultipartUpload>;

  /**
   * Uploads one part (numbers 1…10000; every part but the last must be at least 5 MiB on AWS S3). Uploading the same
   * number again replaces that part, so a retried upload is idempotent.
   *
   * @throws {MultipartUploadNotFoundError} when the upload was completed or aborted.
   */
  uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer | Uint8Array | string,
    options?: RequestOptions,
  ): Promise<UploadedPart>;

  /**
   * Lists the parts the store holds for an upload, in part-number order.
   *
   * @throws {MultipartUploadNotFoundError} when the upload was completed or aborted.
   */
  listParts(key: string, uploadId: string, options?: RequestOptions): Promise<UploadedPart[]>;

  /**
   * Assembles the parts into the object.
   *
   * @throws {MultipartUploadNotFoundError} when the upload was completed or aborted.
   */
  completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly Pick<UploadedPart, 'partNumber' | 'etag'>[],
    options?: RequestOptions,
  ): Promise<PutResult>;

  /** Abandons an upload and frees its parts. Aborting an unknown upload succeeds. */
  abortMultipart(key: string, uploadId: string, options?: RequestOptions): Promise<void>;

  /** Lists unfinished multipart uploads under a prefix (for a janitor that aborts abandoned ones). */
  listMultipartUploads(prefix: string, options?: RequestOptions): AsyncIterable<MultipartUploadSummary>;
}

/** Cancellation for one call. */
export interface RequestOptions {
  readonly signal?: AbortSignal;
}

/** Options of {@link ObjectStore.get}. */
export interface GetOptions extends RequestOptions {
  /** Only these bytes of the object (an HTTP range request); `length` 0 reads nothing. */
  readonly range?: { readonly offset: number; readonly length: number };
}

/** Options of {@link ObjectStore.put} and {@link ObjectStore.createMultipart}. */
export interface PutOptions extends RequestOptions {
  readonly contentType?: string;
  /** User metadata (`x-amz-meta-*`); keys are lower-cased by S3. */
  readonly metadata?: Readonly<Record<string, string>>;
  /**
   * A conditional write (S3's `If-Match` / `If-None-Match`; `put` only, and only for a body given whole: a Buffer or
   * a string): `{ ifMatch: etag }` replaces the object only while it is that version, `{ ifNoneMatch: '*' }` creates
   * it only if it does not exist. Otherwise `PreconditionFailedError`: read again and retry.
   */
  readonly condition?: { readonly ifMatch: string } | { readonly ifNoneMatch: '*' };
}

/** Options of {@link ObjectStore.list}. */
export interface ListOptions extends RequestOptions {
  /** Keys per request; default the store's (1000 on S3). */
  readonly pageSize?: number;
}

/** What a write produced. */
export interface PutResult {
  readonly key: string;
  readonly etag: string | undefined;
  /** Number of parts it was sent in; 1 for a single PUT. */
  readonly parts: number;
}

/** Metadata of a stored object. */
export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  readonly etag: string | undefined;
  readonly contentType: string | undefined;
  readonly lastModified: Date | undefined;
  readonly metadata: Readonly<Record<string, string>>;
}

/** One entry of {@link ObjectStore.list}. */
export interface ObjectSummary {
  readonly key: string;
  readonly size: number;
  readonly etag: string | undefined;
  readonly lastModified: Date | undefined;
}

/** A started multipart upload. */
export interface MultipartUpload {
  readonly key: string;
  readonly uploadId: string;
}

/** One part of a multipart upload, as sent or as listed. */
export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
  readonly size: number;
}

/** One unfinished multipart upload. */
export interface MultipartUploadSummary {
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: Date | undefined;
}

/** S3's limit on key length, in UTF-8 bytes. */
export const maxKeyBytes = 1024;

/**
 * Checks a key before any request is sent, so a bad key fails with a clear message rather than a server error.
 *
 * @throws {InvalidObjectKeyError} for an empty key, one over 1024 UTF-8 bytes, or one starting with `/`.
 */
export function assertValidKey(key: string): void {
  if (key.length === 0) throw new InvalidObjectKeyError(key, 'it is empty');
  if (Buffer.byteLength(key, 'utf8') > maxKeyBytes) {
    throw new InvalidObjectKeyError(key, `it is longer than ${maxKeyBytes} bytes`);
  }
  // A leading slash makes an object that path-style tools show under an empty "directory"; it is always a bug here.
  if (key.startsWith('/')) throw new InvalidObjectKeyError(key, 'it starts with "/"');
}

/** Collects an async iterable (e.g. {@link ObjectStore.list}) into an array. */
export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of items) out.push(item);
  return out;
}
