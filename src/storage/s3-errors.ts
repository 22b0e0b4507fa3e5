/**
 * The mapping of the S3 SDK's errors (service answers and network failures) to the storage error classes of
 * `./errors.ts`, so callers never match on SDK error names.
 */
import { S3ServiceException } from '@aws-sdk/client-s3';
import {
  PreconditionFailedError,
  BucketNotFoundError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  StorageAccessDeniedError,
  StorageRequestError,
  StorageUnavailableError,
} from './errors.js';

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
      // AWS answers 409 ConditionalRequestConflict when a concurrent conditional write to the same key won the race.
      case 'PreconditionFailed':
      case 'ConditionalRequestConflict':
        return new PreconditionFailedError(ctx.bucket, ctx.key ?? '', { cause: err });
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
    if (status === 412) return new PreconditionFailedError(ctx.bucket, ctx.key ?? '', { cause: err });
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
