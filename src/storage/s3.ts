import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type $Command,
  type S3ClientResolvedConfig,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-s3';
import { traceS3Client } from '../telemetry/ports.js';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { type S3StoreConfig, toS3ClientConfig } from './config.js';
import {
  BucketNotFoundError,
  MultipartUploadNotFoundError,
  StorageRequestError,
  orNullIfNotFound,
} from './errors.js';
import { mapS3Error } from './s3-errors.js';
import {
  assertValidKey,
  type ListOptions,
  type MultipartUpload,
  type MultipartUploadSummary,
  type ObjectInfo,
  type ObjectStore,
  type ObjectSummary,
  type PutOptions,
  type PutResult,
  type GetOptions,
  type RequestOptions,
  type UploadedPart,
} from './object-store.js';

/** Tuning of streaming puts. */
export interface S3ObjectStoreOptions {
  readonly client: S3Client;
  readonly bucket: string;
  /** Only for error messages. */
  readonly endpoint?: string;
  /** Part size of streamed puts; default 8 MiB (S3's minimum is 5 MiB). */
  readonly partSizeBytes?: number;
  /** Parts in flight at once; memory of a streamed put is about `partSizeBytes × (queueSize + 1)`. Default 4. */
  readonly queueSize?: number;
}

/** The part size of streamed puts unless configured otherwise. */
export const defaultPartSizeBytes = 8 * 1024 * 1024;

/** {@link ObjectStore} on S3 or any S3-compatible server (versitygw, MinIO). */
export class S3ObjectStore implements ObjectStore {
  readonly bucket: string;
  readonly #client: S3Client;
  readonly #endpoint: string | undefined;
  readonly #partSize: number;
  readonly #queueSize: number;

  constructor(options: S3ObjectStoreOptions) {
    this.#client = options.client;
    this.bucket = options.bucket;
    this.#endpoint = options.endpoint;
    this.#partSize = options.partSizeBytes ?? defaultPartSizeBytes;
    this.#queueSize = options.queueSize ?? 4;
  }

  async put(
    key: string,
    body: Readable | Buffer | Uint8Array | string,
    options: PutOptions = {},
  ): Promise<PutResult> {
    assertValidKey(key);
    if (options.condition !== undefined) return this.#putConditionally(key, body, options);
    // lib-storage's Upload sends a body that fits one part as a single PUT and anything larger as a multipart
    // upload, reading at most queueSize parts ahead: a stream of unknown length is stored with bounded memory.
    const upload = new Upload({
      client: this.#client,
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
      params: {
        ...this.#object(key),
        Body: body,
        ...(options.contentType ? { ContentType: options.contentType } : {}),
        ...(options.metadata ? { Metadata: { ...options.metadata } } : {}),
      },
    });
    let parts = 0;
    upload.on('httpUploadProgress', (progress) => {
      parts = Math.max(parts, progress.part ?? 0);
    });
    const onAbort = () => void upload.abort().catch(() => undefined);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      options.signal?.throwIfAborted();
      const out = await upload.done();
      return { key, etag: 'ETag' in out ? out.ETag : undefined, parts: Math.max(parts, 1) };
    } catch (err) {
      throw this.#mapError(err, 'put', key);
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
    }
  }

  /** One PutObject with `If-Match` / `If-None-Match` (see {@link PutOptions.condition}). */
  async #putConditionally(
    key: string,
    body: Readable | Buffer | Uint8Array | string,
    options: PutOptions,
  ): Promise<PutResult> {
    if (body instanceof Readable) {
      throw new TypeError(
        `a conditional put takes a Buffer or a string, not a stream (s3://${this.bucket}/${key})`,
      );
    }
    const condition = options.condition!;
    const out = await this.#send(
      'put',
      key,
      new PutObjectCommand({
        ...this.#object(key),
        Body: body,
        ...('ifMatch' in condition ? { IfMatch: condition.ifMatch } : { IfNoneMatch: condition.ifNoneMatch }),
        ...(options.contentType ? { ContentType: options.contentType } : {}),
        ...(options.metadata ? { Metadata: { ...options.metadata } } : {}),
      }),
      options,
    );
    return { key, etag: out.ETag, parts: 1 };
  }

  async get(key: string, options: GetOptions = {}): Promise<Readable> {
    assertValidKey(key);
    const { range } = options;
    // An empty range is not expressible in HTTP (`bytes=0--1`); it reads nothing.
    if (range?.length === 0) return Readable.from([]);
    const command = new GetObjectCommand({
      ...this.#object(key),
      ...(range !== undefined ? { Range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {}),
    });
    const out = await this.#send('get', key, command, options);
    if (!(out.Body instanceof Readable)) {
      throw new StorageRequestError('get', this.bucket, key, 'UnexpectedBody', out.$metadata.httpStatusCode);
    }
    return out.Body;
  }

  async getBytes(key: string, options: GetOptions = {}): Promise<Buffer> {
    const stream = await this.get(key, options);
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of stream) chunks.push(chunk as Buffer);
    } catch (err) {
      throw this.#mapError(err, 'get', key);
    }
    return Buffer.concat(chunks);
  }

  async head(key: string, options: RequestOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key);
    const out = await this.#send('head', key, new HeadObjectCommand(this.#object(key)), options);
    return {
      key,
      size: out.ContentLength ?? 0,
      etag: out.ETag,
      contentType: out.ContentType,
      lastModified: out.LastModified,
      metadata: out.Metadata ?? {},
    };
  }

  async exists(key: string, options: RequestOptions = {}): Promise<boolean> {
    return (await orNullIfNotFound(this.head(key, options))) !== null;
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectSummary> {
    let token: string | undefined;
    do {
      const out = await this.#send(
        'list',
        prefix,
        new ListObjectsV2Command({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(token ? { ContinuationToken: token } : {}),
          ...(options.pageSize ? { MaxKeys: options.pageSize } : {}),
        }),
        options,
      );
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key, size: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string, options: RequestOptions = {}): Promise<void> {
    assertValidKey(key);
    // Some S3-compatible servers answer 404 for a missing key where AWS answers 204; both mean "it is gone".
    await orNullIfNotFound(this.#send('delete', key, new DeleteObjectCommand(this.#object(key)), options));
  }

  async createMultipart(key: string, options: PutOptions = {}): Promise<MultipartUpload> {
    assertValidKey(key);
    const out = await this.#send(
      'createMultipart',
      key,
      new CreateMultipartUploadCommand({
        ...this.#object(key),
        ...(options.contentType ? { ContentType: options.contentType } : {}),
        ...(options.metadata ? { Metadata: { ...options.metadata } } : {}),
      }),
      options,
    );
    if (!out.UploadId)
      throw new StorageRequestError('createMultipart', this.bucket, key, 'NoUploadId', undefined);
    return { key, uploadId: out.UploadId };
  }

  async uploadPart(
    key: string,
    uploadId: string,
    partNumber: number,
    body: Buffer | Uint8Array | string,
    options: RequestOptions = {},
  ): Promise<UploadedPart> {
    assertValidKey(key);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    const out = await this.#send(
      'uploadPart',
      key,
      new UploadPartCommand({
        ...this.#object(key),
        UploadId: uploadId,
        PartNumber: partNumber,
        Body: bytes,
        ContentLength: bytes.byteLength,
      }),
      options,
      uploadId,
    );
    if (!out.ETag) throw new StorageRequestError('uploadPart', this.bucket, key, 'NoETag', undefined);
    return { partNumber, etag: out.ETag, size: bytes.byteLength };
  }

  async listParts(key: string, uploadId: string, options: RequestOptions = {}): Promise<UploadedPart[]> {
    assertValidKey(key);
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    do {
      const out = await this.#send(
        'listParts',
        key,
        new ListPartsCommand({
          ...this.#object(key),
          UploadId: uploadId,
          ...(marker ? { PartNumberMarker: marker } : {}),
        }),
        options,
        uploadId,
      );
      for (const p of out.Parts ?? []) {
        if (p.PartNumber === undefined || p.ETag === undefined) continue;
        parts.push({ partNumber: p.PartNumber, etag: p.ETag, size: p.Size ?? 0 });
      }
      marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
    } while (marker);
    return parts.sort((a, b) => a.partNumber - b.partNumber);
  }

  async completeMultipart(
    key: string,
    uploadId: string,
    parts: readonly Pick<UploadedPart, 'partNumber' | 'etag'>[],
    options: RequestOptions = {},
  ): Promise<PutResult> {
    assertValidKey(key);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const out = await this.#send(
      'completeMultipart',
      key,
      new CompleteMultipartUploadCommand({
        ...this.#object(key),
        UploadId: uploadId,
        MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
      }),
      options,
      uploadId,
    );
    return { key, etag: out.ETag, parts: sorted.length };
  }

  async abortMultipart(key: string, uploadId: string, options: RequestOptions = {}): Promise<void> {
    assertValidKey(key);
    // An upload already completed or aborted is as good as aborted.
    await orNullIfNotFound(
      this.#send(
        'abortMultipart',
        key,
        new AbortMultipartUploadCommand({ ...this.#object(key), UploadId: uploadId }),
        options,
        uploadId,
      ),
      MultipartUploadNotFoundError,
    );
  }

  async *listMultipartUploads(
    prefix: string,
    options: RequestOptions = {},
  ): AsyncIterable<MultipartUploadSummary> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const out = await this.#send(
        'listMultipartUploads',
        prefix,
        new ListMultipartUploadsCommand({
          Bucket: this.bucket,
          Prefix: prefix,
          ...(keyMarker ? { KeyMarker: keyMarker } : {}),
          ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
        }),
        options,
      );
      for (const u of out.Uploads ?? []) {
        if (u.Key === undefined || u.UploadId === undefined) continue;
        yield { key: u.Key, uploadId: u.UploadId, initiated: u.Initiated };
      }
      keyMarker = out.IsTruncated ? out.NextKeyMarker : undefined;
      uploadIdMarker = out.IsTruncated ? out.NextUploadIdMarker : undefined;
    } while (keyMarker);
  }

  /** True when the bucket exists (and the credentials may see it). */
  async bucketExists(options: RequestOptions = {}): Promise<boolean> {
    const found = await orNullIfNotFound(
      this.#send('headBucket', undefined, new HeadBucketCommand({ Bucket: this.bucket }), options),
      BucketNotFoundError,
    );
    return found !== null;
  }

  /**
   * Creates the bucket when it does not exist (used by the local stack and by first-time set-up).
   *
   * @returns true when this call created it.
   */
  async ensureBucket(options: RequestOptions = {}): Promise<boolean> {
    if (await this.bucketExists(options)) return false;
    try {
      await this.#send('createBucket', undefined, new CreateBucketCommand({ Bucket: this.bucket }), options);
      return true;
    } catch (err) {
      // Another process created it between our HEAD and our CREATE.
      if (err instanceof StorageRequestError && err.s3Code === 'BucketAlreadyOwnedByYou') return false;
      throw err;
    }
  }

  /** The bucket and key of one object, as every object command takes them. */
  #object(key: string): { Bucket: string; Key: string } {
    return { Bucket: this.bucket, Key: key };
  }

  /** Releases the client's sockets. Only for a store that owns its client (see {@link createS3ObjectStore}). */
  close(): void {
    this.#client.destroy();
  }

  /**
   * Sends one command with the caller's abort signal; any failure becomes a {@link StorageError} naming the operation
   * and key (an abort by the caller's signal passes through).
   */
  async #send<I extends ServiceInputTypes, O extends ServiceOutputTypes>(
    operation: string,
    key: string | undefined,
    command: S3Command<I, O>,
    options: RequestOptions,
    uploadId?: string,
  ): Promise<O> {
    try {
      return await this.#client.send(command, options.signal ? { abortSignal: options.signal } : {});
    } catch (err) {
      throw this.#mapError(err, operation, key, uploadId);
    }
  }

  /** Turns an SDK or network error into a {@link StorageError}; an abort by the caller's signal passes through. */
  #mapError(err: unknown, operation: string, key: string | undefined, uploadId?: string): unknown {
    return mapS3Error(err, { operation, bucket: this.bucket, key, uploadId, endpoint: this.#endpoint });
  }
}

/** A command of the S3 client with input `I` and output `O`. */
type S3Command<I extends ServiceInputTypes, O extends ServiceOutputTypes> = $Command<
  I,
  O,
  S3ClientResolvedConfig,
  ServiceInputTypes,
  ServiceOutputTypes
>;

/**
 * Creates an {@link S3ObjectStore} with its own client from configuration (see `loadS3Config`).
 */
export function createS3ObjectStore(
  config: S3StoreConfig,
  tuning: Omit<S3ObjectStoreOptions, 'client' | 'bucket' | 'endpoint'> = {},
): S3ObjectStore {
  return new S3ObjectStore({
    client: traceS3Client(new S3Client(toS3ClientConfig(config)), config.bucket),
    bucket: config.bucket,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...tuning,
  });
}
