import { z } from 'zod';
import { StackConfigError } from './errors.js';
import { defaultCacheRoot } from './paths.js';

export { envBoolean } from '../spec/env.js';

const port = (fallback: number) =>
  z
    .string()
    .trim()
    .optional()
    .transform((value, ctx) => {
      if (value === undefined || value === '') return fallback;
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 65535) {
        ctx.addIssue({ code: 'custom', message: `"${value}" is not a TCP port (1-65535)` });
        return z.NEVER;
      }
      return n;
    });

const optionalString = z
  .string()
  .trim()
  .optional()
  .transform((value) => (value === '' ? undefined : value));

/**
 * The environment the stack reads. Ports default to uncommon numbers so the stack does not fight a developer's own
 * Temporal (7233) or MinIO (9000).
 */
const stackEnvSchema = z.object({
  ASSAY_CACHE_DIR: optionalString,
  /** When set to a server that is not ours, `up` leaves Temporal alone and `env` echoes it. */
  TEMPORAL_ADDRESS: optionalString,
  TEMPORAL_NAMESPACE: optionalString.transform((v) => v ?? 'default'),
  /** The Web UI of a user's own Temporal, echoed by `env` when `TEMPORAL_ADDRESS` is theirs. */
  ASSAY_TEMPORAL_UI: optionalString,
  /** When set to a server that is not ours, `up` leaves S3 alone and `env` echoes the `ASSAY_S3_*` variables. */
  ASSAY_S3_ENDPOINT: optionalString,
  ASSAY_STACK_TEMPORAL_PORT: port(17233),
  ASSAY_STACK_TEMPORAL_UI_PORT: port(18233),
  ASSAY_STACK_S3_PORT: port(17070),
  /** The trace store's (Jaeger's) OTLP receivers and its query API / UI. */
  ASSAY_STACK_OTLP_GRPC_PORT: port(14317),
  ASSAY_STACK_OTLP_HTTP_PORT: port(14318),
  ASSAY_STACK_TRACES_UI_PORT: port(16686),
  /** The Go toolchain used to build missing binaries. */
  ASSAY_GO: optionalString.transform((v) => v ?? 'go'),
  /** Comma-separated subset of components `up`/`down`/`status`/`env` act on when none are named; default all. */
  ASSAY_STACK_COMPONENTS: optionalString.transform((v) =>
    v
      ?.split(',')
      .map((c) => c.trim())
      .filter((c) => c !== ''),
  ),
});

/** The stack's configuration, parsed once from the environment. */
export interface StackConfig {
  readonly cacheRoot: string;
  /** The address the user set in `TEMPORAL_ADDRESS`, if any (it may still be ours: see `isExternal…`). */
  readonly userTemporalAddress: string | undefined;
  readonly userTemporalUi: string | undefined;
  readonly temporalNamespace: string;
  readonly userS3Endpoint: string | undefined;
  readonly temporalPort: number;
  readonly temporalUiPort: number;
  readonly s3Port: number;
  /** The trace store's OTLP/gRPC receiver. */
  readonly otlpGrpcPort: number;
  /** The trace store's OTLP/HTTP receiver (`OTEL_EXPORTER_OTLP_ENDPOINT`). */
  readonly otlpHttpPort: number;
  /** The trace store's query API and UI (`ASSAY_TRACES_UI`). */
  readonly tracesUiPort: number;
  readonly goBinary: string;
  /** The components to act on when the caller names none (`ASSAY_STACK_COMPONENTS`); undefined means all. */
  readonly components: readonly string[] | undefined;
  /** The environment the config was read from; components that echo a user's own servers read it. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads the stack configuration from the environment.
 *
 * @throws {StackConfigError} when a variable has an invalid value (e.g. a port that is not a number).
 */
export function loadStackConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): StackConfig {
  const parsed = stackEnvSchema.safeParse(env);
  if (!parsed.success) {
    throw new StackConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  return {
    cacheRoot: e.ASSAY_CACHE_DIR ?? defaultCacheRoot(),
    userTemporalAddress: e.TEMPORAL_ADDRESS,
    userTemporalUi: e.ASSAY_TEMPORAL_UI,
    temporalNamespace: e.TEMPORAL_NAMESPACE,
    userS3Endpoint: e.ASSAY_S3_ENDPOINT,
    temporalPort: e.ASSAY_STACK_TEMPORAL_PORT,
    temporalUiPort: e.ASSAY_STACK_TEMPORAL_UI_PORT,
    s3Port: e.ASSAY_STACK_S3_PORT,
    otlpGrpcPort: e.ASSAY_STACK_OTLP_GRPC_PORT,
    otlpHttpPort: e.ASSAY_STACK_OTLP_HTTP_PORT,
    tracesUiPort: e.ASSAY_STACK_TRACES_UI_PORT,
    goBinary: e.ASSAY_GO,
    components: e.ASSAY_STACK_COMPONENTS,
    env: { ...env },
  };
}
