/**
 * TLS to Temporal from the environment, shared by the worker, the controller and the CLI (docs/deploy.md,
 * "Temporal"): `TEMPORAL_TLS=true` turns TLS on (the system's roots, e.g. Temporal Cloud with an API key elsewhere);
 * `TEMPORAL_TLS_CERT` and `TEMPORAL_TLS_KEY` name a PEM client certificate and key (mTLS, which implies TLS);
 * `TEMPORAL_TLS_CA` a PEM CA bundle (used when the file exists, so a mounted Secret without `ca.crt` works);
 * `TEMPORAL_TLS_SERVER_NAME` overrides the name checked against the server's certificate. The Helm chart sets them
 * from `temporal.tls`.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import { z } from 'zod';
import { envBoolean } from './env.js';

const optionalPath = z
  .string()
  .trim()
  .optional()
  .transform((v) => (v === '' ? undefined : v));

const tlsEnvSchema = z
  .object({
    TEMPORAL_TLS: envBoolean,
    TEMPORAL_TLS_CERT: optionalPath,
    TEMPORAL_TLS_KEY: optionalPath,
    TEMPORAL_TLS_CA: optionalPath,
    TEMPORAL_TLS_SERVER_NAME: optionalPath,
  })
  .refine((e) => (e.TEMPORAL_TLS_CERT === undefined) === (e.TEMPORAL_TLS_KEY === undefined), {
    message: 'set both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY, or neither',
    path: ['TEMPORAL_TLS_KEY'],
  });

/** The Temporal TLS settings of the environment are invalid, or a file they name cannot be read. */
export class TemporalTlsConfigError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(`invalid Temporal TLS settings: ${message}`, options);
    this.name = 'TemporalTlsConfigError';
  }
}

function read(path: string, variable: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new TemporalTlsConfigError(`${variable}: cannot read ${path}`, { cause: err });
  }
}

/**
 * The TLS options of a Temporal connection (`{ tls }`, or `{}` for plaintext), to spread into
 * `Connection.connect`/`NativeConnection.connect`.
 *
 * @throws {TemporalTlsConfigError} naming the variable when a value is invalid or a file unreadable.
 */
export function temporalTlsOptions(env: Readonly<Record<string, string | undefined>> = process.env): {
  tls?: TLSConfig;
} {
  const parsed = tlsEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new TemporalTlsConfigError(
      parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
    );
  }
  const e = parsed.data;
  const mtls = e.TEMPORAL_TLS_CERT !== undefined && e.TEMPORAL_TLS_KEY !== undefined;
  if (e.TEMPORAL_TLS === false || (e.TEMPORAL_TLS === undefined && !mtls)) return {};
  const tls: TLSConfig = {};
  if (e.TEMPORAL_TLS_SERVER_NAME !== undefined) tls.serverNameOverride = e.TEMPORAL_TLS_SERVER_NAME;
  if (e.TEMPORAL_TLS_CA !== undefined && existsSync(e.TEMPORAL_TLS_CA)) {
    tls.serverRootCACertificate = read(e.TEMPORAL_TLS_CA, 'TEMPORAL_TLS_CA');
  }
  if (e.TEMPORAL_TLS_CERT !== undefined && e.TEMPORAL_TLS_KEY !== undefined) {
    tls.clientCertPair = {
      crt: read(e.TEMPORAL_TLS_CERT, 'TEMPORAL_TLS_CERT'),
      key: read(e.TEMPORAL_TLS_KEY, 'TEMPORAL_TLS_KEY'),
    };
  }
  return { tls };
}
