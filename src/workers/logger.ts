/**
 * The worker's structured log: one JSON object per line on stderr (pino), for the worker process itself, the Temporal
 * SDK (installed as the Runtime logger, native core lines forwarded to it) and every activity. Activity lines carry
 * the evaluation id, the evaluation's attempt where the input names one, the activity type, Temporal's attempt of the
 * activity and the cluster, added by {@link activityLogAttributes}.
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import type { Context as ActivityContext } from '@temporalio/activity';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { Runtime, type ActivityInterceptorsFactory, type MetricsExporterConfig } from '@temporalio/worker';
import { pino, type DestinationStream, type Logger } from 'pino';
import { evaluationWorkflowId } from '../spec/names.js';
import type { LogLevel } from '../spec/worker-config.js';

export type { Logger } from 'pino';

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  readonly level?: LogLevel;
  /** Where lines go; stderr (synchronously, so the last lines before an exit are not lost) unless given. */
  readonly destination?: DestinationStream;
}

/** The worker's root logger: JSON lines with `time`, `level` (a name), `name: assay-worker`, `pid`, `msg`. */
/**
 * `trace_id` and `span_id` of the span active where a line is logged (docs/observability.md), so a log line finds its
 * trace. Activity lines get them from the OpenTelemetry activity interceptor's log attributes.
 */
export function traceFields(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      name: 'assay-worker',
      level: options.level ?? 'info',
      base: { pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      mixin: traceFields,
    },
    options.destination ?? pino.destination({ fd: 2, sync: true }),
  );
}

const levelMethods = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
} as const satisfies Record<TemporalLogLevel, LogLevel>;

/**
 * The pino logger as a Temporal SDK logger (`Runtime.install({ logger })`): the SDK's metadata become fields of the
 * line; its timestamp symbol is dropped (pino stamps the line).
 */
export function temporalLogger(logger: Logger): TemporalLogger {
  const write = (level: TemporalLogLevel, message: string, meta?: LogMetadata): void => {
    const method = levelMethods[level];
    if (meta === undefined) logger[method](message);
    else logger[method]({ ...meta }, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

const evaluationWorkflowPrefix = evaluationWorkflowId('');

/** The evaluation and attempt an activity works for: from its workflow id (`eval-<id>`), else from its input. */
export function evaluationOf(
  workflowId: string | undefined,
  input: unknown,
): { evaluationId: string | null; evaluationAttempt: number | null } {
  const first = typeof input === 'object' && input !== null ? (input as Record<string, unknown>) : {};
  const fromInput = typeof first.evaluationId === 'string' ? first.evaluationId : null;
  const fromWorkflow =
    workflowId?.startsWith(evaluationWorkflowPrefix) === true
      ? workflowId.slice(evaluationWorkflowPrefix.length)
      : null;
  return {
    evaluationId: fromWorkflow ?? fromInput,
    evaluationAttempt: typeof first.attempt === 'number' ? first.attempt : null,
  };
}

/**
 * Activity interceptors adding `evaluationId`, `evaluationAttempt` and `cluster` to every line the activity's logger
 * (`Context.current().log`, the SDK's own "Activity started/completed/failed") writes; the SDK already adds
 * `activityType`, `attempt`, `workflowId`, `taskQueue`. `cluster` is the cluster this worker serves, or null on the
 * workflow queue (which serves no cluster). `evaluationAttempt` is read from the input, so the SDK's own "Activity
 * started" line, written before the input reaches the interceptors, has it null; every later line has it. The SDK
 * leaves null attributes out of the line.
 */
export function activityLogAttributes(cluster: string | null): ActivityInterceptorsFactory {
  return (ctx: ActivityContext) => {
    let evaluation = evaluationOf(ctx.info.workflowExecution?.workflowId, undefined);
    return {
      inbound: {
        async execute(input, next) {
          evaluation = evaluationOf(ctx.info.workflowExecution?.workflowId, input.args[0]);
          return await next(input);
        },
      },
      outbound: {
        getLogAttributes(attributes, next) {
          return next({ ...attributes, ...evaluation, cluster });
        },
      },
    };
  };
}

/**
 * Installs the process's Temporal Runtime with `logger`: the SDK's lines and the native core's (warnings and up,
 * forwarded) all become JSON lines of the same stream. SIGINT and SIGTERM shut every worker down gracefully. With
 * `metrics` the core exports its own metrics too (`./temporal-metrics.ts`).
 */
export function installWorkerRuntime(logger: Logger, metrics?: MetricsExporterConfig): void {
  Runtime.install({
    logger: temporalLogger(logger),
    shutdownSignals: ['SIGINT', 'SIGTERM'],
    telemetryOptions: {
      logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} },
      ...(metrics !== undefined ? { metrics } : {}),
    },
  });
}
