import type { S3ClientConfig } from '@aws-sdk/client-s3';
import { z } from 'zod';
import { envBoolean } from '../spec/env.js';

/** Environment variables that configure the object store (the local stack's `env` prints them). */
export const s3EnvNames = {
  endpoint: 'ASSAY_S3_ENDPOINT',
  region: 'ASSAY_S3_REGION',
  accessKeyId: 'ASSAY_S3_ACCESS_KEY_ID',
  secretAccessKey: 'ASSAY_S3_SECRET_ACCESS_KEY',
  bucket: 'ASSAY_S3_BUCKET',
  forcePathStyle: 'ASSAY_S3_FORCE_PATH_STYLE',
} as const;

const optionalString = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const s3EnvSchema = z.object({
  ASSAY_S3_ENDPOINT: optionalString.pipe(
    z.url({ protocol: /^https?$/, error: 'is not an http(s) URL' }).optional(),
  ),
  ASSAY_S3_REGION: optionalString,
  ASSAY_S3_ACCESS_KEY_ID: optionalString,
  ASSAY_S3_SECRET_ACCESS_KEY: optionalString,
  ASSAY_S3_BUCKET: optionalString.pipe(
    z
      .string()
      .regex(
        /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/,
        'is not a valid S3 bucket name (3-63 of a-z, 0-9, ".", "-")',
      )
      .optional(),
  ),
  ASSAY_S3_FORCE_PATH_STYLE: envBoolean,
});

/** Half a credential pair is always a mistake; with neither, the AWS default chain (profile, IMDS, …) applies. */
function credentialPairIssue(env: Readonly<Record<string, string | undefined>>): string | undefined {
  const id = (env.ASSAY_S3_ACCESS_KEY_ID ?? '').trim() !== '';
  const secret = (env.ASSAY_S3_SECRET_ACCESS_KEY ?? '').trim() !== '';
  if (id === secret) return undefined;
  const missing = id ? 'ASSAY_S3_SECRET_ACCESS_KEY' : 'ASSAY_S3_ACCESS_KEY_ID';
  return `${missing}: set both ASSAY_S3_ACCESS_KEY_ID and ASSAY_S3_SECRET_ACCESS_KEY, or neither`;
}

/** Object-store configuration, parsed from the `ASSAY_S3_*` environment. */
export interface S3StoreConfig {
  /** Custom endpoint (MinIO, versitygw, …); undefined means AWS S3. */
  readonly endpoint: string | undefined;
  readonly region: string;
  /** Undefined means the AWS default credential chain. */
  readonly credentials: { readonly accessKeyId: string; readonly secretAccessKey: string } | undefined;
  readonly bucket: string;
  /** Path-style URLs (`http://host/bucket/key`); S3-compatible servers on loopback need them. */
  readonly forcePathStyle: boolean;
}

/** The bucket used when `ASSAY_S3_BUCKET` is not set. */
export const defaultBucket = 'assay';

/** Thrown when the `ASSAY_S3_*` environment is invalid; names every bad variable. */
export class S3ConfigError extends Error {
  readonly code = 'S3_CONFIG_INVALID';
  constructor(readonly issues: readonly string[]) {
    super(`invalid object-store configuration:\n  ${issues.join('\n  ')}`);
    this.name = 'S3ConfigError';
  }
}

/**
 * Reads the object-store configuration from the environment.
 *
 * Defaults: region `us-east-1`, bucket `assay`, path-style on whenever a custom endpoint is set (S3-compatible
 * servers rarely have wildcard DNS for virtual-host buckets), off for AWS.
 *
 * @throws {S3ConfigError} when a variable is invalid (the message names it).
 */
export function loadS3Config(env: Readonly<Record<string, string | undefined>> = process.env): S3StoreConfig {
  const parsed = s3EnvSchema.safeParse(env);
  const pairIssue = credentialPairIssue(env);
  if (!parsed.success || pairIssue) {
    const issues = parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    throw new S3ConfigError(pairIssue ? [...issues, pairIssue] : issues);
  }
  const e = parsed.data;
  return {
    endpoint: e.ASSAY_S3_ENDPOINT,
    region: e.ASSAY_S3_REGION ?? 'us-east-1',
    credentials:
      e.ASSAY_S3_ACCESS_KEY_ID !== undefined && e.ASSAY_S3_SECRET_ACCESS_KEY !== undefined
        ? { accessKeyId: e.ASSAY_S3_ACCESS_KEY_ID, secretAccessKey: e.ASSAY_S3_SECRET_ACCESS_KEY }
        : undefined,
    bucket: e.ASSAY_S3_BUCKET ?? defaultBucket,
    forcePathStyle: e.ASSAY_S3_FORCE_PATH_STYLE ?? e.ASSAY_S3_ENDPOINT !== undefined,
  };
}

/** Turns the configuration into options for `new S3Client(…)`. */
export function toS3ClientConfig(config: S3StoreConfig): S3ClientConfig {
  return {
    region: config.region,
    forcePathStyle: config.forcePathStyle,
    ...(config.endpoint ? { endpoint: config.endpoint } : {}),
    ...(config.credentials ? { credentials: { ...config.credentials } } : {}),
    // Checksums only where the API requires them: S3-compatible servers differ in which of the newer flexible
    // checksums they accept, and TLS plus the ETag already protect the data in transit.
    ...(config.endpoint
      ? { requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' }
      : {}),
  };
}
