/**
 * The configuration of `assay admission`: an optional YAML/JSON file (`--config` or `ASSAY_ADMISSION_CONFIG`),
 * overlaid with the environment (`ASSAY_ADMISSION_HOST`, `ASSAY_ADMISSION_PORT`, `ASSAY_ADMISSION_TLS_CERT`,
 * `ASSAY_ADMISSION_TLS_KEY`, `ASSAY_LOG_LEVEL`) and then the command line. Validated with zod; every error names its
 * field. Without `tls`, the local stack's generated certificate is used (`./defaults.ts`). `teamDefaults` (file only)
 * gives each team's default priority, timeout and cost labels (`./team-defaults.ts`).
 *
 * @packageDocumentation
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { formatPath } from '../spec/issues.js';
import { logLevels } from '../spec/worker-config.js';
import { ADMISSION_DEFAULT_HOST, ADMISSION_DEFAULT_PORT, localStackAdmissionTls } from './defaults.js';
import { teamDefaultsSchema } from './team-defaults.js';

export const admissionConfigSchema = z.strictObject({
  host: z
    .string()
    .min(1)
    .max(253)
    .default(ADMISSION_DEFAULT_HOST)
    .describe('Address to listen on; 0.0.0.0 inside a cluster, 127.0.0.1 for the local stack.'),
  port: z.int().min(1).max(65535).default(ADMISSION_DEFAULT_PORT).describe('HTTPS port.'),
  tls: z
    .strictObject({
      certFile: z.string().min(1).describe('PEM serving certificate (with its chain).'),
      keyFile: z.string().min(1).describe('PEM private key.'),
    })
    .optional()
    .describe("Serving certificate; the local stack's generated one when omitted."),
  logLevel: z.enum(logLevels).default('info'),
  teamDefaults: teamDefaultsSchema.describe(
    "What the mutating webhook fills in for a team's EvaluationJobs that leave it out (./team-defaults.ts).",
  ),
});
export type AdmissionConfig = z.output<typeof admissionConfigSchema>;

/** Thrown for an unreadable or invalid configuration; the message names every bad field. */
export class AdmissionConfigError extends Error {
  readonly code = 'ADMISSION_CONFIG_INVALID';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'AdmissionConfigError';
  }
}

/** Command-line overrides. */
export interface AdmissionFlags {
  readonly config?: string;
  readonly host?: string;
  readonly port?: string;
  readonly tlsCert?: string;
  readonly tlsKey?: string;
}

type Env = Readonly<Record<string, string | undefined>>;

/** A port given as text: a number when it is one, else the text, which the schema then names as not an integer. */
function portValue(text: string | undefined): number | string | undefined {
  if (text === undefined || text === '') return undefined;
  return /^\d+$/.test(text) ? Number(text) : text;
}

function given(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/**
 * @throws {AdmissionConfigError} when the file cannot be read or parsed, or a field is invalid.
 */
export function loadAdmissionConfig(
  flags: AdmissionFlags = {},
  env: Env = process.env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): AdmissionConfig {
  const file = given(flags.config) ?? given(env.ASSAY_ADMISSION_CONFIG);
  let base: Record<string, unknown> = {};
  if (file !== undefined) {
    let parsed: unknown;
    try {
      parsed = parseYaml(readFile(file));
    } catch (err) {
      throw new AdmissionConfigError(
        `cannot read the admission config ${file}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    if (parsed !== null && parsed !== undefined) {
      if (typeof parsed !== 'object' || Array.isArray(parsed)) {
        throw new AdmissionConfigError(`the admission config ${file} must be a mapping`);
      }
      base = parsed as Record<string, unknown>;
    }
  }
  const host = given(flags.host) ?? given(env.ASSAY_ADMISSION_HOST);
  const port = portValue(given(flags.port) ?? given(env.ASSAY_ADMISSION_PORT));
  const certFile = given(flags.tlsCert) ?? given(env.ASSAY_ADMISSION_TLS_CERT);
  const keyFile = given(flags.tlsKey) ?? given(env.ASSAY_ADMISSION_TLS_KEY);
  const logLevel = given(env.ASSAY_LOG_LEVEL);
  const baseTls =
    base.tls !== null && typeof base.tls === 'object' ? (base.tls as Record<string, unknown>) : base.tls;
  const tls =
    certFile !== undefined || keyFile !== undefined
      ? {
          ...(typeof baseTls === 'object' ? baseTls : {}),
          ...(certFile !== undefined ? { certFile } : {}),
          ...(keyFile !== undefined ? { keyFile } : {}),
        }
      : baseTls;
  const input = {
    ...base,
    ...(host !== undefined ? { host } : {}),
    ...(port !== undefined ? { port } : {}),
    ...(tls !== undefined ? { tls } : {}),
    ...(logLevel !== undefined ? { logLevel } : {}),
  };
  const result = admissionConfigSchema.safeParse(input);
  if (!result.success) {
    const lines = result.error.issues.map(
      (issue) => `${formatPath(issue.path) || '(config)'}: ${issue.message}`,
    );
    throw new AdmissionConfigError(`invalid admission configuration:\n  ${lines.join('\n  ')}`);
  }
  return result.data;
}

/** The serving certificate and key, read. */
export interface AdmissionTls {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/**
 * Reads the serving certificate: the configured files, else the local stack's.
 * @throws {AdmissionConfigError} naming the field and the file when one cannot be read.
 */
export function readAdmissionTls(
  config: AdmissionConfig,
  env: Env = process.env,
  readBytes: (path: string) => Buffer = (p) => readFileSync(p),
): AdmissionTls {
  const local = config.tls === undefined;
  const files = config.tls ?? localStackAdmissionTls(given(env.ASSAY_CACHE_DIR));
  const read = (field: string, path: string): Buffer => {
    try {
      return readBytes(path);
    } catch (err) {
      const hint = local ? ' (the local stack generates it: npm run stack -- up)' : '';
      throw new AdmissionConfigError(
        `tls.${field}: cannot read ${path}: ${err instanceof Error ? err.message : String(err)}${hint}`,
        { cause: err },
      );
    }
  };
  return {
    certFile: files.certFile,
    keyFile: files.keyFile,
    cert: read('certFile', files.certFile),
    key: read('keyFile', files.keyFile),
  };
}
