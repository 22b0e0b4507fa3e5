/**
 * Bucket lifecycle rules, where the store supports them (AWS S3, MinIO): backstops under `evaluations/` that hold
 * even if no sweep ever runs — unfinished multipart uploads (a crashed worker's) are aborted, and nothing outlives the
 * longest retention a spec may ask for. Each evaluation's own, usually shorter, `retentionDays` is enforced by the
 * scheduled sweep, since lifecycle rules cannot read a record. The local stack's versitygw answers 501: `unsupported`.
 */
import { PutBucketLifecycleConfigurationCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { specLimits } from '../spec/spec-constants.js';
import { evaluationsRoot } from '../spec/storage-keys.js';
import { toS3ClientConfig, type S3StoreConfig } from '../storage/config.js';

/** Longer than the longest attempt (7 days), so a live upload (a log being captured) is never aborted. */
export const abortIncompleteUploadDays = specLimits.maxTimeoutSeconds / 86_400 + 1;
/** The longest retention plus the longest run: nothing under `evaluations/` lives longer. */
export const maxObjectAgeDays = specLimits.maxRetentionDays + abortIncompleteUploadDays;

/**
 * Installs the rules (replacing the bucket's lifecycle configuration).
 *
 * @returns `unsupported` when the server does not implement lifecycle configuration (501 / NotImplemented).
 * @throws the SDK's error for anything else (e.g. access denied).
 */
export async function applyLifecycleRules(config: S3StoreConfig): Promise<'applied' | 'unsupported'> {
  const client = new S3Client(toS3ClientConfig(config));
  try {
    await client.send(
      new PutBucketLifecycleConfigurationCommand({
        Bucket: config.bucket,
        LifecycleConfiguration: {
          Rules: [
            {
              ID: 'assay-abort-incomplete-uploads',
              Status: 'Enabled',
              Filter: { Prefix: evaluationsRoot },
              AbortIncompleteMultipartUpload: { DaysAfterInitiation: abortIncompleteUploadDays },
            },
            {
              ID: 'assay-max-retention',
              Status: 'Enabled',
              Filter: { Prefix: evaluationsRoot },
              Expiration: { Days: maxObjectAgeDays },
            },
          ],
        },
      }),
    );
    return 'applied';
  } catch (err) {
    if (
      err instanceof S3ServiceException &&
      (err.$metadata.httpStatusCode === 501 || err.name === 'NotImplemented')
    ) {
      return 'unsupported';
    }
    throw err;
  } finally {
    client.destroy();
  }
}
