/**
 * S3ObjectStore's handling of answers, with an S3 client that answers from a table instead of the network (the
 * behaviour against a real S3 server is covered by the integration tests).
 */
import { Readable } from 'node:stream';
import { S3ServiceException, type S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from '@jest/globals';
import {
  BucketNotFoundError,
  MultipartUploadNotFoundError,
  ObjectNotFoundError,
  StorageAccessDeniedError,
  StorageUnavailableError,
  orNullIfNotFound,
} from '../../../src/storage/errors.js';
import { S3ObjectStore } from '../../../src/storage/s3.js';

function serviceError(name: string, status: number): S3ServiceException {
  return new S3ServiceException({
    name,
    $fault: status >= 500 ? 'server' : 'client',
    $metadata: { httpStatusCode: status },
  });
}

/** A store whose client answers each command by name; an Error answer is thrown. */
function storeAnswering(answers: Record<string, unknown>): { store: S3ObjectStore; sent: string[] } {
  const sent: string[] = [];
  const client = {
    send: (command: { constructor: { name: string }; input: Record<string, unknown> }) => {
      const name = command.constructor.name;
      sent.push(name);
      const answer = answers[name];
      const value =
        typeof answer === 'function' ? (answer as (i: unknown) => unknown)(command.input) : answer;
      return value instanceof Error ? Promise.reject(value) : Promise.resolve(value ?? { $metadata: {} });
    },
    destroy: () => undefined,
  };
  return { store: new S3ObjectStore({ client: client as unknown as S3Client, bucket: 'b' }), sent };
}

describe('S3ObjectStore', () => {
  it('reads an object whole and maps a missing key to ObjectNotFoundError', async () => {
    const { store } = storeAnswering({
      GetObjectCommand: (input: Record<string, unknown>) =>
        input.Key === 'here'
          ? { Body: Readable.from([Buffer.from('ab'), Buffer.from('c')]), $metadata: {} }
          : serviceError('NoSuchKey', 404),
    });
    expect((await store.getBytes('here')).toString()).toBe('abc');
    await expect(store.getBytes('gone')).rejects.toBeInstanceOf(ObjectNotFoundError);
    expect(await orNullIfNotFound(store.getBytes('gone'))).toBeNull();
  });

  it('says whether an object exists from HEAD, propagating anything but a 404', async () => {
    expect(await storeAnswering({ HeadObjectCommand: serviceError('NotFound', 404) }).store.exists('k')).toBe(
      false,
    );
    expect(
      await storeAnswering({ HeadObjectCommand: { ContentLength: 3, $metadata: {} } }).store.exists('k'),
    ).toBe(true);
    await expect(
      storeAnswering({ HeadObjectCommand: serviceError('Forbidden', 403) }).store.exists('k'),
    ).rejects.toBeInstanceOf(StorageAccessDeniedError);
  });

  it('treats deleting a missing key and aborting a finished upload as done', async () => {
    const { store } = storeAnswering({
      DeleteObjectCommand: serviceError('NoSuchKey', 404),
      AbortMultipartUploadCommand: serviceError('NoSuchUpload', 404),
    });
    await expect(store.delete('k')).resolves.toBeUndefined();
    await expect(store.abortMultipart('k', 'u')).resolves.toBeUndefined();
  });

  it('does not hide a missing upload from uploadPart, nor an outage from delete', async () => {
    const { store } = storeAnswering({
      UploadPartCommand: serviceError('NoSuchUpload', 404),
      DeleteObjectCommand: serviceError('InternalError', 500),
    });
    await expect(store.uploadPart('k', 'u', 1, 'x')).rejects.toBeInstanceOf(MultipartUploadNotFoundError);
    await expect(store.delete('k')).rejects.toBeInstanceOf(StorageUnavailableError);
  });

  it('creates a missing bucket once, and accepts one another process created meanwhile', async () => {
    const fresh = storeAnswering({ HeadBucketCommand: serviceError('NotFound', 404) });
    expect(await fresh.store.ensureBucket()).toBe(true);
    expect(fresh.sent).toEqual(['HeadBucketCommand', 'CreateBucketCommand']);

    const raced = storeAnswering({
      HeadBucketCommand: serviceError('NotFound', 404),
      CreateBucketCommand: serviceError('BucketAlreadyOwnedByYou', 409),
    });
    expect(await raced.store.ensureBucket()).toBe(false);

    const present = storeAnswering({});
    expect(await present.store.ensureBucket()).toBe(false);
    expect(present.sent).toEqual(['HeadBucketCommand']);
  });

  it('maps a missing bucket on listing, and pages through a truncated listing', async () => {
    const missing = storeAnswering({ ListObjectsV2Command: serviceError('NoSuchBucket', 404) });
    await expect(missing.store.list('p/')[Symbol.asyncIterator]().next()).rejects.toBeInstanceOf(
      BucketNotFoundError,
    );
    const paged = storeAnswering({
      ListObjectsV2Command: (input: Record<string, unknown>) =>
        input.ContinuationToken === undefined
          ? {
              Contents: [{ Key: 'p/a', Size: 1 }],
              IsTruncated: true,
              NextContinuationToken: 't',
              $metadata: {},
            }
          : { Contents: [{ Key: 'p/b', Size: 2 }], IsTruncated: false, $metadata: {} },
    });
    const keys: string[] = [];
    for await (const o of paged.store.list('p/')) keys.push(o.key);
    expect(keys).toEqual(['p/a', 'p/b']);
  });
});
