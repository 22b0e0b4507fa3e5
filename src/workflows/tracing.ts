/**
 * The evaluation's spans inside the workflow (docs/observability.md): one span per phase (`select-cluster`,
 * `queued`, `attempt <n>` with `create-job`, `running`, `capture` and `collect` in it, `backing-off`, `cleanup`),
 * children of the SDK interceptor's `RunWorkflow:evaluation`, and the activities scheduled in a phase become its
 * children. Deterministic: span ids come from the sandbox's seeded `Math.random`, times from the workflow clock,
 * and the spans leave only through the interceptors' sink, which is not called during replay — so they add nothing to
 * the history, and a worker that replays after a crash ends the spans the dead one started, with the same ids.
 * Without a sampled parent (tracing off, or not sampled) every span here is a no-op that still carries the trace id.
 */
import {
  context,
  isSpanContextValid,
  trace,
  SpanStatusCode,
  TraceFlags,
  type Context,
  type Span,
  type SpanContext,
} from '@opentelemetry/api';

const tracer = () => trace.getTracer('assay-workflow');

/** The W3C `traceparent` of a span context (version 00). */
export function traceparentOf(spanContext: SpanContext): string {
  const flags = (spanContext.traceFlags & TraceFlags.SAMPLED) !== 0 ? '01' : '00';
  return `00-${spanContext.traceId}-${spanContext.spanId}-${flags}`;
}

/** W3C trace context for a process the evaluation starts (its pod): `TRACEPARENT`, `TRACESTATE`. */
export interface TraceCarrier {
  readonly traceparent: string;
  readonly tracestate?: string;
}

export interface EvaluationSpans {
  /** The trace id of this evaluation; null where the workflow runs without the tracing interceptors. */
  readonly traceId: string | null;
  /** Whether the starter sampled the trace (the spans are recorded and exported). */
  readonly sampled: boolean;
  /** Ends the current phase span and starts `name` (null: just end it). */
  phase(name: string | null): void;
  /** Starts attempt `n`'s span (ending the previous one); the phases after it are its children. */
  attempt(n: number): void;
  /** Runs `fn` in a span `name` under the current attempt (or the workflow), so its activities are children. */
  within<T>(name: string, fn: () => Promise<T>): Promise<T>;
  /** Starts a span that `fn`'s activities are children of, ended by the returned function (for work in parallel). */
  open(name: string): { readonly context: Context; end(error?: string): void };
  /** Runs `fn` with the current phase's context active: the activities it schedules are the phase's children. */
  inPhase<T>(fn: () => Promise<T>): Promise<T>;
  /** The trace context the attempt's pod continues (under the current phase span). */
  carrier(): TraceCarrier | null;
  /** Marks how the current attempt ended on its span (an error status unless it succeeded). */
  attemptEnded(kind: string, reason: string | null): void;
  /** Ends every open span; with an outcome, marks it on the workflow's span (`error` when it failed). */
  finish(outcome?: { readonly outcome: string; readonly failed: boolean }): void;
}

export function evaluationSpans(attributes: Record<string, string>): EvaluationSpans {
  const root = context.active();
  const rootContext = trace.getSpanContext(root);
  const valid = rootContext !== undefined && isSpanContextValid(rootContext);
  let attemptSpan: Span | null = null;
  let attemptContext: Context = root;
  let phaseSpan: Span | null = null;
  let phaseContext: Context = root;
  const start = (name: string, parent: Context): Span => tracer().startSpan(name, { attributes }, parent);
  const endPhase = (): void => {
    phaseSpan?.end();
    phaseSpan = null;
    phaseContext = attemptContext;
  };
  return {
    traceId: valid ? rootContext.traceId : null,
    sampled: valid && (rootContext.traceFlags & TraceFlags.SAMPLED) !== 0,
    phase(name) {
      endPhase();
      if (name === null) return;
      phaseSpan = start(name, attemptContext);
      phaseContext = trace.setSpan(attemptContext, phaseSpan);
    },
    attempt(n) {
      endPhase();
      attemptSpan?.end();
      attemptSpan = start(`attempt ${n}`, root);
      attemptContext = trace.setSpan(root, attemptSpan);
      phaseContext = attemptContext;
    },
    async within(name, fn) {
      const span = start(name, attemptContext);
      try {
        return await context.with(trace.setSpan(attemptContext, span), fn);
      } catch (err) {
        span.setStatus({
          code: SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        });
        throw err;
      } finally {
        span.end();
      }
    },
    open(name) {
      const span = start(name, attemptContext);
      return {
        context: trace.setSpan(attemptContext, span),
        end(error) {
          if (error !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: error });
          span.end();
        },
      };
    },
    inPhase(fn) {
      return context.with(phaseContext, fn);
    },
    carrier() {
      const spanContext = trace.getSpanContext(phaseContext);
      if (spanContext === undefined || !isSpanContextValid(spanContext)) return null;
      const tracestate = spanContext.traceState?.serialize();
      return {
        traceparent: traceparentOf(spanContext),
        ...(tracestate !== undefined && tracestate !== '' ? { tracestate } : {}),
      };
    },
    attemptEnded(kind, reason) {
      attemptSpan?.setAttribute('assay.attempt.end', kind);
      if (kind !== 'Succeeded') {
        attemptSpan?.setStatus({ code: SpanStatusCode.ERROR, message: reason ?? kind });
      }
    },
    finish(outcome) {
      if (outcome !== undefined) {
        // The interceptor sets the workflow span's status itself when it returns; `error` is what trace UIs flag.
        trace.getSpan(root)?.setAttributes({ 'assay.outcome': outcome.outcome, error: outcome.failed });
      }
      endPhase();
      attemptSpan?.end();
      attemptSpan = null;
      attemptContext = root;
    },
  };
}
