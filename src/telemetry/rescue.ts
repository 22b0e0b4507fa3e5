/**
 * Failed evaluations are kept whatever the sampling (docs/observability.md, "Sampling"). The decision is the root's,
 * made when the evaluation is submitted, before anyone knows how it ends; so when an evaluation fails and its trace
 * was not sampled, the record writer adds a summary to that same trace id, sampled: a span `evaluation <id>` over the
 * whole evaluation (error status, outcome, reason) with one span per attempt and the time queued, built from the
 * record's timestamps. The detail of the unsampled run (activities, API calls) was never recorded and is not in it;
 * a sampled trace is not touched.
 */
import {
  ROOT_CONTEXT,
  SpanStatusCode,
  TraceFlags,
  isSpanContextValid,
  trace,
  type Span,
} from '@opentelemetry/api';
import { failureOutcomes, type EvaluationOutput } from '../spec/record.js';
import { assayTracer } from './sdk.js';

const failures: ReadonlySet<string> = new Set(failureOutcomes);

const time = (iso: string | null | undefined): number | undefined => {
  if (iso === null || iso === undefined) return undefined;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : ms;
};

/**
 * Adds the summary of a failed, unsampled evaluation to its trace; returns whether it did. Runs in the record
 * writer's activity, whose active span context says whether the trace was sampled.
 */
export function keepFailedTrace(record: EvaluationOutput, now: number = Date.now()): boolean {
  const traceId = record.traceId;
  if (traceId === null || traceId === undefined || !failures.has(record.outcome)) return false;
  const active = trace.getActiveSpan()?.spanContext();
  const sampled =
    active !== undefined &&
    isSpanContextValid(active) &&
    active.traceId === traceId &&
    (active.traceFlags & TraceFlags.SAMPLED) !== 0;
  if (sampled || active === undefined || !isSpanContextValid(active) || active.traceId !== traceId) {
    // Sampled: kept already. No context of this trace here (tracing off): nothing to add to.
    return false;
  }
  const parent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId: active.spanId,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
  const tracer = assayTracer();
  const start = time(record.timings.submittedAt) ?? now;
  const root: Span = tracer.startSpan(
    `evaluation ${record.evaluationId}`,
    {
      startTime: start,
      attributes: {
        'assay.evaluation_id': record.evaluationId,
        'assay.team': record.team,
        'assay.outcome': record.outcome,
        ...(record.reason !== null ? { 'assay.reason': record.reason } : {}),
        ...(record.cluster !== null ? { 'assay.cluster': record.cluster } : {}),
        'assay.sampling': 'kept-because-failed',
        error: true,
      },
    },
    parent,
  );
  root.setStatus({ code: SpanStatusCode.ERROR, message: record.message ?? record.reason ?? record.outcome });
  const inRoot = trace.setSpan(parent, root);
  const admitted = time(record.timings.admittedAt);
  const queuedFrom = time(record.timings.queuedAt);
  if (queuedFrom !== undefined && admitted !== undefined) {
    tracer.startSpan('queued', { startTime: queuedFrom }, inRoot).end(admitted);
  }
  for (const attempt of record.attempts) {
    const from = time(attempt.startedAt);
    if (from === undefined) continue;
    const span = tracer.startSpan(
      `attempt ${attempt.attempt}`,
      {
        startTime: from,
        attributes: {
          'assay.attempt.end': attempt.kind ?? 'unknown',
          ...(attempt.exitCode !== null ? { 'process.exit.code': attempt.exitCode } : {}),
          ...(attempt.pod !== null ? { 'k8s.pod.name': attempt.pod } : {}),
        },
      },
      inRoot,
    );
    if (attempt.kind !== 'Succeeded') {
      span.setStatus({ code: SpanStatusCode.ERROR, message: attempt.reason ?? attempt.kind ?? 'unknown' });
    }
    span.end(time(attempt.finishedAt) ?? now);
  }
  root.end(time(record.timings.finishedAt) ?? now);
  return true;
}
