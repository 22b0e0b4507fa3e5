/**
 * The W3C trace context an evaluation's main container continues (docs/observability.md): `TRACEPARENT` and
 * `TRACESTATE` in its environment (the OpenTelemetry convention for environment variables as carriers), and
 * `ASSAY_SPANS_PATH`, a file in the artifacts directory where it may leave its spans (OTLP/JSON) for Assay to forward
 * to the trace store — the pod itself needs no network for its spans to join the trace.
 */
import { z } from 'zod';
import { assayArtifactsDir } from './spec-constants.js';

/** `00-<trace id>-<parent span id>-<flags>`, lower-case hex. */
export const traceparentPattern = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export const traceCarrierSchema = z.object({
  traceparent: z.string().regex(traceparentPattern, 'must be a version-00 W3C traceparent'),
  tracestate: z.string().max(512).optional(),
});
export type TraceCarrierValue = z.infer<typeof traceCarrierSchema>;

/** Where the main container may write its spans, relative to the artifacts directory. */
export const spansArtifactPath = '.assay/spans.otlp.json';

/** The largest spans file Assay forwards; a larger one is left as an artifact and not forwarded. */
export const maxSpansFileBytes = 1024 * 1024;

/**
 * The trace variables of an attempt's main container: none that the spec sets itself, `ASSAY_SPANS_PATH` only where
 * the spec declares artifacts (the directory the collector reads).
 */
export function traceEnv(request: {
  readonly trace?: TraceCarrierValue | undefined;
  readonly env: readonly { readonly name: string }[];
  readonly outputs?: { readonly artifacts: unknown } | null | undefined;
}): { name: string; value: string }[] {
  const own = new Set(request.env.map((e) => e.name));
  const vars: { name: string; value: string }[] = [];
  if (request.trace !== undefined) {
    vars.push({ name: 'TRACEPARENT', value: request.trace.traceparent });
    if (request.trace.tracestate !== undefined)
      vars.push({ name: 'TRACESTATE', value: request.trace.tracestate });
    if (request.outputs != null && request.outputs.artifacts != null) {
      vars.push({ name: 'ASSAY_SPANS_PATH', value: `${assayArtifactsDir}/${spansArtifactPath}` });
    }
  }
  return vars.filter((v) => !own.has(v.name));
}
