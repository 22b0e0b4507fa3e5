/**
 * Errors of the object store. Callers match on `code` (stable) rather than on the S3 SDK's error names, so an
 * activity can turn them into `ApplicationFailure`s with a `type` and the right retryability (a configuration or
 * permission problem fails at once; an unreachable store is retried).
 */
export abstract class StorageError extends Error {
  abstract readonly code: string;
  /** Whether retrying the same call may succeed (the server was unreachable or overloaded). */
  abstract readonly retryable: boolean;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The object does not exist. */
export class ObjectNotFoundError extends StorageError {
  readonly code = 'OBJECT_NOT_FOUND';
  readonly retryable = false;
  constructor(
    readonly bucket: string,
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`object not found: s3://${bucket}/${key}`, options);
  }
}

/** The bucket does not exist. */
export class BucketNotFoundError extends StorageError {
  readonly code = 'BUCKET_NOT_FOUND';
  readonly retryable = false;
  constructor(
    readonly bucket: string,
    options?: ErrorOptions,
  ) {
    super(`bucket not found: ${bucket}`, options);
  }
}

/** The multipart upload does not exist (it was completed, aborted, or expired). */
export class MultipartUploadNotFoundError extends StorageError {
  readonly code = 'MULTIPART_UPLOAD_NOT_FOUND';
  readonly retryable = false;
  constructor(
    readonly bucket: string,
    readonly key: string,
    readonly uploadId: string,
    options?: ErrorOptions,
  ) {
    super(`multipart upload ${uploadId} of s3://${bucket}/${key} not found`, options);
  }
}

/** The credentials were rejected or lack permission. */
export class StorageAccessDeniedError extends StorageError {
  readonly code = 'STORAGE_ACCESS_DENIED';
  readonly retryable = false;
  constructor(
    readonly bucket: string,
    readonly key: string | undefined,
    readonly s3Code: string,
    options?: ErrorOptions,
  ) {
    super(`access denied (${s3Code}) to s3://${bucket}/${key ?? ''}`, options);
  }
}

/** A conditional write found the object changed (`If-Match`) or present (`If-None-Match: *`): read it again. */
export class PreconditionFailedError extends StorageError {
  readonly code = 'PRECONDITION_FAILED';
  readonly retryable = false;
  constructor(
    readonly bucket: string,
    readonly key: string,
    options?: ErrorOptions,
  ) {
    super(`s3://${bucket}/${key} changed since it was read (precondition failed)`, options);
  }
}

/** A key the store cannot hold (empty, too long). Raised before any request is sent. */
export class InvalidObjectKeyError extends StorageError {
  readonly code = 'INVALID_OBJECT_KEY';
  readonly retryable = false;
  constructor(
    readonly key: string,
    readonly reason: string,
  ) {
    super(`invalid object key ${JSON.stringify(key.slice(0, 80))}: ${reason}`);
  }
}

/** The store could not be reached, timed out, or answered 5xx/503 SlowDown. */
export class StorageUnavailableError extends StorageError {
  readonly code = 'STORAGE_UNAVAILABLE';
  readonly retryable = true;
  constructor(
    readonly operation: string,
    readonly endpoint: string | undefined,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(
      `object store unavailable during ${operation}${endpoint ? ` (${endpoint})` : ''}: ${detail}`,
      options,
    );
  }
}

/** Any other error answer from the store; `s3Code` and `httpStatus` are the server's. */
export class StorageRequestError extends StorageError {
  readonly code = 'STORAGE_REQUEST_FAILED';
  readonly retryable = false;
  constructor(
    readonly operation: string,
    readonly bucket: string,
    readonly key: string | undefined,
    readonly s3Code: string,
    readonly httpStatus: number | undefined,
    options?: ErrorOptions,
  ) {
    super(
      `${operation} s3://${bucket}/${key ?? ''} failed: ${s3Code}${httpStatus ? ` (HTTP ${httpStatus})` : ''}`,
      options,
    );
  }
}

/** One of the "does not exist" errors, for {@link orNullIfNotFound}. */
type NotFoundErrorClass =
  typeof ObjectNotFoundError | typeof BucketNotFoundError | typeof MultipartUploadNotFoundError;

/**
 * The value of a storage read, or null when what it reads does not exist; every other error propagates.
 *
 * @param notFound - which absence means null: a missing object unless told otherwise.
 */
export async function orNullIfNotFound<T>(
  read: Promise<T>,
  notFound: NotFoundErrorClass = ObjectNotFoundError,
): Promise<T | null> {
  try {
    return await read;
  } catch (err) {
    if (err instanceof notFound) return null;
    throw err;
  }
}
