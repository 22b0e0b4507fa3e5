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
  S3Client,
  S3ServiceException,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { Readable } from 'node:stream';
import { type S3StoreConfig, toS3ClientConfig } from './config.js';
import {
  BucketNotFoundError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  StorageAccessDeniedError,
  StorageRequestError,
  StorageUnavailableError,
} from './errors.js';
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
    // lib-storage's Upload sends a body that fits one part as a single PUT and anything larger as a multipart
    // upload, reading at most queueSize parts ahead: a stream of unknown length is stored with bounded memory.
    const upload = new Upload({
      client: this.#client,
      partSize: this.#partSize,
      queueSize: this.#queueSize,
      leavePartsOnError: false,
      params: {
        Bucket: this.bucket,
        Key: key,
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

  async get(key: string, options: RequestOptions = {}): Promise<Readable> {
    assertValidKey(key);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
        abortOptions(options),
      );
      if (!(out.Body instanceof Readable)) {
        throw new StorageRequestError(
          'get',
          this.bucket,
          key,
          'UnexpectedBody',
          out.$metadata.httpStatusCode,
        );
      }
      return out.Body;
    } catch (err) {
      throw this.#mapError(err, 'get', key);
    }
  }

  async getBytes(key: string, options: RequestOptions = {}): Promise<Buffer> {
    assertValidKey(key);
    try {
      const out = await this.#client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key }),
        abortOptions(options),
      );
      if (!out.Body) return Buffer.alloc(0);
      return Buffer.from(await out.Body.transformToByteArray());
    } catch (err) {
      throw this.#mapError(err, 'get', key);
    }
  }

  async head(key: string, options: RequestOptions = {}): Promise<ObjectInfo> {
    assertValidKey(key);
    try {
      const out = await this.#client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: key }),
        abortOptions(options),
      );
      return {
        key,
        size: out.ContentLength ?? 0,
        etag: out.ETag,
        contentType: out.ContentType,
        lastModified: out.LastModified,
        metadata: out.Metadata ?? {},
      };
    } catch (err) {
      throw this.#mapError(err, 'head', key);
    }
  }

  async exists(key: string, options: RequestOptions = {}): Promise<boolean> {
    try {
      await this.head(key, options);
      return true;
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return false;
      throw err;
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ObjectSummary> {
    let token: string | undefined;
    do {
      let out;
      try {
        out = await this.#client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(token ? { ContinuationToken: token } : {}),
            ...(options.pageSize ? { MaxKeys: options.pageSize } : {}),
          }),
          abortOptions(options),
        );
      } catch (err) {
        throw this.#mapError(err, 'list', prefix);
      }
      for (const o of out.Contents ?? []) {
        if (o.Key === undefined) continue;
        yield { key: o.Key, size: o.Size ?? 0, etag: o.ETag, lastModified: o.LastModified };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string, options: RequestOptions = {}): Promise<void> {
    assertValidKey(key);
    try {
      await this.#client.send(
        new DeleteObjectCommand({ Bucket: this.bucket, Key: key }),
        abortOptions(options),
      );
    } catch (err) {
      const mapped = this.#mapError(err, 'delete', key);
      // Some S3-compatible servers answer 404 for a missing key where AWS answers 204; both mean "it is gone".
      if (mapped instanceof ObjectNotFoundError) return;
      throw mapped;
    }
  }

  async createMultipart(key: string, options: PutOptions = {}): Promise<MultipartUpload> {
    assertValidKey(key);
    try {
      const out = await this.#client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          ...(options.contentType ? { ContentType: options.contentType } : {}),
          ...(options.metadata ? { Metadata: { ...options.metadata } } : {}),
        }),
        abortOptions(options),
      );
      if (!out.UploadId)
        throw new StorageRequestError('createMultipart', this.bucket, key, 'NoUploadId', undefined);
      return { key, uploadId: out.UploadId };
    } catch (err) {
      throw this.#mapError(err, 'createMultipart', key);
    }
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
    try {
      const out = await this.#client.send(
        new UploadPartCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          PartNumber: partNumber,
          Body: bytes,
          ContentLength: bytes.byteLength,
        }),
        abortOptions(options),
      );
      if (!out.ETag) throw new StorageRequestError('uploadPart', this.bucket, key, 'NoETag', undefined);
      return { partNumber, etag: out.ETag, size: bytes.byteLength };
    } catch (err) {
      throw this.#mapError(err, 'uploadPart', key, uploadId);
    }
  }

  async listParts(key: string, uploadId: string, options: RequestOptions = {}): Promise<UploadedPart[]> {
    assertValidKey(key);
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    try {
      do {
        const out = await this.#client.send(
          new ListPartsCommand({
            Bucket: this.bucket,
            Key: key,
            UploadId: uploadId,
            ...(marker ? { PartNumberMarker: marker } : {}),
          }),
          abortOptions(options),
        );
        for (const p of out.Parts ?? []) {
          if (p.PartNumber === undefined || p.ETag === undefined) continue;
          parts.push({ partNumber: p.PartNumber, etag: p.ETag, size: p.Size ?? 0 });
        }
        marker = out.IsTruncated ? out.NextPartNumberMarker : undefined;
      } while (marker);
    } catch (err) {
      throw this.#mapError(err, 'listParts', key, uploadId);
    }
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
    try {
      const out = await this.#client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.bucket,
          Key: key,
          UploadId: uploadId,
          MultipartUpload: { Parts: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        }),
        abortOptions(options),
      );
      return { key, etag: out.ETag, parts: sorted.length };
    } catch (err) {
      throw this.#mapError(err, 'completeMultipart', key, uploadId);
    }
  }

  async abortMultipart(key: string, uploadId: string, options: RequestOptions = {}): Promise<void> {
    assertValidKey(key);
    try {
      await this.#client.send(
        new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }),
        abortOptions(options),
      );
    } catch (err) {
      const mapped = this.#mapError(err, 'abortMultipart', key, uploadId);
      if (mapped instanceof MultipartUploadNotFoundError) return;
      throw mapped;
    }
  }

  async *listMultipartUploads(
    prefix: string,
    options: RequestOptions = {},
  ): AsyncIterable<MultipartUploadSummary> {
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let out;
      try {
        out = await this.#client.send(
          new ListMultipartUploadsCommand({
            Bucket: this.bucket,
            Prefix: prefix,
            ...(keyMarker ? { KeyMarker: keyMarker } : {}),
            ...(uploadIdMarker ? { UploadIdMarker: uploadIdMarker } : {}),
          }),
          abortOptions(options),
        );
      } catch (err) {
        throw this.#mapError(err, 'listMultipartUploads', prefix);
      }
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
    try {
      await this.#client.send(new HeadBucketCommand({ Bucket: this.bucket }), abortOptions(options));
      return true;
    } catch (err) {
      const mapped = this.#mapError(err, 'headBucket', undefined);
      if (mapped instanceof BucketNotFoundError) return false;
      throw mapped;
    }
  }

  /**
   * Creates the bucket when it does not exist (used by the local stack and by first-time set-up).
   *
   * @returns true when this call created it.
   */
  async ensureBucket(options: RequestOptions = {}): Promise<boolean> {
    if (await this.bucketExists(options)) return false;
    try {
      await this.#client.send(new CreateBucketCommand({ Bucket: this.bucket }), abortOptions(options));
      return true;
    } catch (err) {
      // Another process created it between our HEAD and our CREATE.
      if (err instanceof S3ServiceException && err.name === 'BucketAlreadyOwnedByYou') return false;
      throw this.#mapError(err, 'createBucket', undefined);
    }
  }

  /** Releases the client's sockets. Only for a store that owns its client (see {@link createS3ObjectStore}). */
  close(): void {
    this.#client.destroy();
  }

  /** Turns an SDK or network error into a {@link StorageError}; an abort by the caller's signal passes through. */
  #mapError(err: unknown, operation: string, key: string | undefined, uploadId?: string): unknown {
    return mapS3Error(err, { operation, bucket: this.bucket, key, uploadId, endpoint: this.#endpoint });
  }
}

/** Where an S3 error happened, for {@link mapS3Error}. */
export interface S3ErrorContext {
  readonly operation: string;
  readonly bucket: string;
  readonly key: string | undefined;
  readonly uploadId?: string | undefined;
  readonly endpoint?: string | undefined;
}

const networkErrorCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);

/**
 * Maps an error thrown by the S3 SDK to the storage error classes. Aborts by the caller's signal and programming
 * errors pass through unchanged. Node's own errors are recognised by shape, not `instanceof`, because they may come
 * from another realm (e.g. under Jest's VM modules).
 */
export function mapS3Error(err: unknown, ctx: S3ErrorContext): unknown {
  if (typeof err !== 'object' || err === null) {
    return new StorageRequestError(ctx.operation, ctx.bucket, ctx.key, String(err), undefined);
  }
  const name = 'name' in err && typeof err.name === 'string' ? err.name : '';
  if (name === 'AbortError') return err;
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    switch (err.name) {
      case 'NoSuchKey':
        return new ObjectNotFoundError(ctx.bucket, ctx.key ?? '', { cause: err });
      case 'NoSuchBucket':
        return new BucketNotFoundError(ctx.bucket, { cause: err });
      case 'NoSuchUpload':
        return new MultipartUploadNotFoundError(ctx.bucket, ctx.key ?? '', ctx.uploadId ?? '', {
          cause: err,
        });
      case 'AccessDenied':
      case 'InvalidAccessKeyId':
      case 'SignatureDoesNotMatch':
        return new StorageAccessDeniedError(ctx.bucket, ctx.key, err.name, { cause: err });
    }
    // HEAD answers carry no body, so a missing object (or bucket) is just "404 NotFound".
    if (status === 404) {
      return ctx.key === undefined
        ? new BucketNotFoundError(ctx.bucket, { cause: err })
        : new ObjectNotFoundError(ctx.bucket, ctx.key, { cause: err });
    }
    if (status === 403) return new StorageAccessDeniedError(ctx.bucket, ctx.key, err.name, { cause: err });
    if ((status !== undefined && status >= 500) || err.name === 'SlowDown') {
      return new StorageUnavailableError(ctx.operation, ctx.endpoint, `${err.name} (HTTP ${status})`, {
        cause: err,
      });
    }
    return new StorageRequestError(ctx.operation, ctx.bucket, ctx.key, err.name, status, { cause: err });
  }
  const code = networkErrorCode(err);
  if (code !== undefined || name === 'TimeoutError') {
    const message = 'message' in err && typeof err.message === 'string' ? err.message : name;
    return new StorageUnavailableError(ctx.operation, ctx.endpoint, code ?? message, { cause: err });
  }
  return err;
}

/**
 * The network error code of `err`, looking through `cause` and `AggregateError.errors`: the SDK and Node's
 * happy-eyeballs connect wrap the socket's ECONNREFUSED in errors of their own.
 */
function networkErrorCode(err: unknown, depth = 0): string | undefined {
  if (typeof err !== 'object' || err === null || depth > 4) return undefined;
  if ('code' in err && typeof err.code === 'string' && networkErrorCodes.has(err.code)) return err.code;
  const nested = [
    'cause' in err ? err.cause : undefined,
    ...('errors' in err && Array.isArray(err.errors) ? (err.errors as unknown[]) : []),
  ];
  for (const inner of nested) {
    const code = networkErrorCode(inner, depth + 1);
    if (code !== undefined) return code;
  }
  return undefined;
}

function abortOptions(options: RequestOptions): { abortSignal?: AbortSignal } {
  return options.signal ? { abortSignal: options.signal } : {};
}

/**
 * Creates an {@link S3ObjectStore} with its own client from configuration (see `loadS3Config`).
 */
export function createS3ObjectStore(
  config: S3StoreConfig,
  tuning: Omit<S3ObjectStoreOptions, 'client' | 'bucket' | 'endpoint'> = {},
): S3ObjectStore {
  return new S3ObjectStore({
    client: new S3Client(toS3ClientConfig(config)),
    bucket: config.bucket,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...tuning,
  });
}
