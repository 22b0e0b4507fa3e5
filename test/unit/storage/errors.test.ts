import { NoSuchKey, NoSuchUpload, S3ServiceException } from '@aws-sdk/client-s3';
import { describe, expect, it } from '@jest/globals';
import {
  BucketNotFoundError,
  InvalidObjectKeyError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  PreconditionFailedError,
  StorageAccessDeniedError,
  StorageRequestError,
  StorageUnavailableError,
} from '../../../src/storage/errors.js';
import { assertValidKey } from '../../../src/storage/object-store.js';
import { mapS3Error } from '../../../src/storage/s3-errors.js';

const ctx = {
  operation: 'get',
  bucket: 'assay',
  key: 'evaluations/x/record.json',
  uploadId: 'u1',
  endpoint: 'http://s3',
};
const meta = (httpStatusCode: number) => ({ $metadata: { httpStatusCode } });

function serviceError(name: string, status: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: status >= 500 ? 'server' : 'client', ...meta(status) });
}

describe('mapS3Error', () => {
  it('maps missing objects, buckets and uploads to named errors with stable codes', () => {
    const notFound = mapS3Error(new NoSuchKey({ message: 'no', ...meta(404) }), ctx);
    expect(notFound).toBeInstanceOf(ObjectNotFoundError);
    expect(notFound).toMatchObject({
      code: 'OBJECT_NOT_FOUND',
      bucket: 'assay',
      key: ctx.key,
      retryable: false,
    });

    // HEAD has no body: a bare 404 is a missing object, or a missing bucket when no key was involved.
    expect(mapS3Error(serviceError('NotFound', 404), ctx)).toBeInstanceOf(ObjectNotFoundError);
    expect(mapS3Error(serviceError('NotFound', 404), { ...ctx, key: undefined })).toBeInstanceOf(
      BucketNotFoundError,
    );
    expect(mapS3Error(serviceError('NoSuchBucket', 404), ctx)).toMatchObject({ code: 'BUCKET_NOT_FOUND' });

    const upload = mapS3Error(new NoSuchUpload({ message: 'gone', ...meta(404) }), ctx);
    expect(upload).toBeInstanceOf(MultipartUploadNotFoundError);
    expect(upload).toMatchObject({ code: 'MULTIPART_UPLOAD_NOT_FOUND', uploadId: 'u1' });
  });

  it('maps a lost conditional write (412, or 409 ConditionalRequestConflict) to PreconditionFailedError', () => {
    for (const err of [
      serviceError('PreconditionFailed', 412),
      serviceError('ConditionalRequestConflict', 409),
      serviceError('Unknown', 412),
    ]) {
      expect(mapS3Error(err, ctx)).toBeInstanceOf(PreconditionFailedError);
      expect(mapS3Error(err, ctx)).toMatchObject({ code: 'PRECONDITION_FAILED', key: ctx.key });
    }
  });

  it('separates access problems, retryable outages and other failures', () => {
    expect(mapS3Error(serviceError('SignatureDoesNotMatch', 403), ctx)).toBeInstanceOf(
      StorageAccessDeniedError,
    );
    const outage = mapS3Error(serviceError('InternalError', 500), ctx);
    expect(outage).toBeInstanceOf(StorageUnavailableError);
    expect(outage).toMatchObject({ retryable: true, code: 'STORAGE_UNAVAILABLE' });
    expect(mapS3Error(serviceError('SlowDown', 503), ctx)).toMatchObject({ retryable: true });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:17070'), {
      code: 'ECONNREFUSED',
    });
    expect(mapS3Error(refused, ctx)).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    const wrapped = new Error('request failed', { cause: new AggregateError([refused], 'connect failed') });
    expect(mapS3Error(wrapped, ctx)).toMatchObject({ code: 'STORAGE_UNAVAILABLE', retryable: true });
    expect(mapS3Error(serviceError('InvalidRange', 416), ctx)).toBeInstanceOf(StorageRequestError);
  });

  it('passes aborts and programming errors through unchanged', () => {
    const abort = Object.assign(new Error('aborted'), { name: 'AbortError' });
    expect(mapS3Error(abort, ctx)).toBe(abort);
    const bug = new TypeError('x is undefined');
    expect(mapS3Error(bug, ctx)).toBe(bug);
  });
});

describe('assertValidKey', () => {
  it('accepts ordinary keys and refuses empty, leading-slash and over-long ones', () => {
    expect(() => assertValidKey('evaluations/01j/attempts/1/stdout.log')).not.toThrow();
    expect(() => assertValidKey('')).toThrow(InvalidObjectKeyError);
    expect(() => assertValidKey('/abs')).toThrow(InvalidObjectKeyError);
    expect(() => assertValidKey('é'.repeat(513))).toThrow(/longer than 1024 bytes/);
  });
});
