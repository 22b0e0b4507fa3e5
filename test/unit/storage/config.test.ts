import { describe, expect, it } from '@jest/globals';
import { loadS3Config, S3ConfigError, toS3ClientConfig } from '../../../src/storage/config.js';

describe('loadS3Config', () => {
  it('reads the variables `stack env` prints', () => {
    const config = loadS3Config({
      ASSAY_S3_ENDPOINT: 'http://127.0.0.1:17070',
      ASSAY_S3_REGION: 'us-east-1',
      ASSAY_S3_ACCESS_KEY_ID: 'ASSAYKEY1234',
      ASSAY_S3_SECRET_ACCESS_KEY: 'secret-secret-secret',
      ASSAY_S3_BUCKET: 'assay',
      ASSAY_S3_FORCE_PATH_STYLE: 'true',
    });
    expect(config).toEqual({
      endpoint: 'http://127.0.0.1:17070',
      region: 'us-east-1',
      credentials: { accessKeyId: 'ASSAYKEY1234', secretAccessKey: 'secret-secret-secret' },
      bucket: 'assay',
      forcePathStyle: true,
    });
  });

  it('defaults to AWS with the default credential chain', () => {
    expect(loadS3Config({})).toEqual({
      endpoint: undefined,
      region: 'us-east-1',
      credentials: undefined,
      bucket: 'assay',
      forcePathStyle: false,
    });
  });

  it('turns path-style on for a custom endpoint unless told otherwise', () => {
    expect(loadS3Config({ ASSAY_S3_ENDPOINT: 'http://minio:9000' }).forcePathStyle).toBe(true);
    expect(
      loadS3Config({ ASSAY_S3_ENDPOINT: 'http://minio:9000', ASSAY_S3_FORCE_PATH_STYLE: 'false' })
        .forcePathStyle,
    ).toBe(false);
  });

  it('names each invalid variable', () => {
    let error: unknown;
    try {
      loadS3Config({
        ASSAY_S3_ENDPOINT: 'ftp://x',
        ASSAY_S3_BUCKET: 'Bad_Bucket',
        ASSAY_S3_FORCE_PATH_STYLE: 'maybe',
        ASSAY_S3_ACCESS_KEY_ID: 'only-half',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(S3ConfigError);
    const text = (error as S3ConfigError).issues.join('\n');
    expect(text).toMatch(/ASSAY_S3_ENDPOINT: is not an http\(s\) URL/);
    expect(text).toMatch(/ASSAY_S3_BUCKET: is not a valid S3 bucket name/);
    expect(text).toMatch(/ASSAY_S3_FORCE_PATH_STYLE: "maybe" is not a boolean/);
    expect(text).toMatch(/ASSAY_S3_SECRET_ACCESS_KEY: set both/);
  });
});

describe('toS3ClientConfig', () => {
  it('passes endpoint, path style and static credentials to the client', () => {
    const client = toS3ClientConfig(
      loadS3Config({
        ASSAY_S3_ENDPOINT: 'http://127.0.0.1:17070',
        ASSAY_S3_ACCESS_KEY_ID: 'ASSAYKEY1234',
        ASSAY_S3_SECRET_ACCESS_KEY: 'secret-secret-secret',
      }),
    );
    expect(client).toMatchObject({
      endpoint: 'http://127.0.0.1:17070',
      forcePathStyle: true,
      region: 'us-east-1',
      credentials: { accessKeyId: 'ASSAYKEY1234', secretAccessKey: 'secret-secret-secret' },
    });
  });
});
