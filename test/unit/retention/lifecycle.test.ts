import { afterEach, describe, expect, it, jest } from '@jest/globals';
import { PutBucketLifecycleConfigurationCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { applyLifecycleRules } from '../../../src/retention/lifecycle.js';
import type { S3StoreConfig } from '../../../src/storage/config.js';

const config: S3StoreConfig = {
  endpoint: 'http://127.0.0.1:1',
  region: 'us-east-1',
  credentials: { accessKeyId: 'id', secretAccessKey: 'secret' },
  bucket: 'evals',
  forcePathStyle: true,
};

/**
 * A fake S3 client: every command any S3Client sends is captured here and answered by `answer` (nothing leaves the
 * process). `applyLifecycleRules` builds its own client, so the fake sits on the class.
 */
function fakeS3(answer: (command: unknown) => Promise<unknown>): unknown[] {
  const sent: unknown[] = [];
  jest.spyOn(S3Client.prototype, 'send').mockImplementation(((command: unknown) => {
    sent.push(command);
    return answer(command);
  }) as never);
  return sent;
}

function serviceError(name: string, httpStatusCode: number): S3ServiceException {
  return new S3ServiceException({ name, $fault: 'server', $metadata: { httpStatusCode }, message: name });
}

afterEach(() => {
  jest.restoreAllMocks();
});

describe('applyLifecycleRules', () => {
  it('sends the store exactly the two backstop rules, under evaluations/, and reports them applied', async () => {
    const sent = fakeS3(() => Promise.resolve({ $metadata: { httpStatusCode: 200 } }));

    expect(await applyLifecycleRules(config)).toBe('applied');

    expect(sent).toHaveLength(1);
    expect(sent[0]).toBeInstanceOf(PutBucketLifecycleConfigurationCommand);
    const input = (sent[0] as PutBucketLifecycleConfigurationCommand).input;
    expect(input).toEqual({
      Bucket: 'evals',
      LifecycleConfiguration: {
        Rules: [
          {
            ID: 'assay-abort-incomplete-uploads',
            Status: 'Enabled',
            Filter: { Prefix: 'evaluations/' },
            // The longest attempt (7 days) plus one: a log still being captured is never aborted.
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 8 },
          },
          {
            ID: 'assay-max-retention',
            Status: 'Enabled',
            Filter: { Prefix: 'evaluations/' },
            // The longest retention a spec may ask for (365 days) plus the longest run and its uploads (8).
            Expiration: { Days: 373 },
          },
        ],
      },
    });
  });

  it('reports a store that does not implement lifecycle configuration (501) as unsupported', async () => {
    fakeS3(() => Promise.reject(serviceError('NotImplemented', 501)));
    expect(await applyLifecycleRules(config)).toBe('unsupported');
  });

  it('throws any other refusal (access denied) instead of calling it unsupported', async () => {
    fakeS3(() => Promise.reject(serviceError('AccessDenied', 403)));
    await expect(applyLifecycleRules(config)).rejects.toMatchObject({ name: 'AccessDenied' });
  });
});
