/**
 * The `tracing:` section of the worker config and the tracing settings every Assay process reads from its environment
 * (docs/observability.md). Where a trace goes is OpenTelemetry's own variable, `OTEL_EXPORTER_OTLP_ENDPOINT`; tracing
 * is on wherever it is set, unless `ASSAY_TRACING=false` or `OTEL_SDK_DISABLED=true` turns it off.
 */
import { z } from 'zod';
import { envBoolean } from './env.js';

/** The fraction of new traces kept, decided once at the trace's root; failed evaluations are kept whatever it is. */
export const samplingRatioSchema = z.number().min(0, 'must be 0 to 1').max(1, 'must be 0 to 1');

export const tracingConfigSchema = z
  .strictObject({
    /** null: on when an OTLP endpoint is known (the section's `endpoint` or `OTEL_EXPORTER_OTLP_ENDPOINT`). */
    enabled: z.boolean().nullable().default(null),
    /** Parent-based ratio sampling: a trace started here is kept with this probability; children follow the root. */
    samplingRatio: samplingRatioSchema.default(1),
    /** Base URL of an OTLP/HTTP receiver (`/v1/traces` is appended); null: `OTEL_EXPORTER_OTLP_ENDPOINT`. */
    endpoint: z.url().nullable().default(null),
  })
  .prefault({});
export type TracingConfig = z.infer<typeof tracingConfigSchema>;

/** What a process needs to set tracing up. */
export interface TracingSettings {
  readonly enabled: boolean;
  readonly samplingRatio: number;
  /** OTLP/HTTP base URL; null when tracing is off. */
  readonly endpoint: string | null;
}

const tracingEnvSchema = z.object({
  ASSAY_TRACING: envBoolean,
  OTEL_SDK_DISABLED: envBoolean,
  ASSAY_TRACE_SAMPLING_RATIO: z.coerce.number().pipe(samplingRatioSchema).optional(),
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().optional(),
});

/** Thrown for an invalid tracing variable; names it and the reason. */
export class TracingConfigError extends Error {
  readonly code = 'TRACING_CONFIG_INVALID';
  constructor(readonly issues: readonly string[]) {
    super(`invalid tracing settings:\n  ${issues.join('\n  ')}`);
    this.name = 'TracingConfigError';
  }
}

/**
 * Resolves the tracing settings: the environment (`ASSAY_TRACING`, `ASSAY_TRACE_SAMPLING_RATIO`,
 * `OTEL_EXPORTER_OTLP_ENDPOINT`, `OTEL_SDK_DISABLED`) over the worker config's `tracing:` section when given.
 *
 * @throws {TracingConfigError} when a variable is invalid.
 */
export function resolveTracingSettings(
  env: Readonly<Record<string, string | undefined>> = process.env,
  section: TracingConfig = tracingConfigSchema.parse({}),
): TracingSettings {
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = tracingEnvSchema.safeParse(clean);
  if (!parsed.success) {
    throw new TracingConfigError(parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`));
  }
  const e = parsed.data;
  const endpoint = section.endpoint ?? e.OTEL_EXPORTER_OTLP_ENDPOINT ?? null;
  const wanted = e.ASSAY_TRACING ?? section.enabled ?? endpoint !== null;
  const enabled = wanted && e.OTEL_SDK_DISABLED !== true && endpoint !== null;
  return {
    enabled,
    samplingRatio: e.ASSAY_TRACE_SAMPLING_RATIO ?? section.samplingRatio,
    endpoint: enabled ? endpoint : null,
  };
}
