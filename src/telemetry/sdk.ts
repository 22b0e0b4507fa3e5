/**
 * OpenTelemetry for one Assay process (docs/observability.md): `startTelemetry` is called first, before any client
 * or worker is made, and `shutdown` last, so every span is flushed. Off (no endpoint, `ASSAY_TRACING=false`), it
 * registers nothing: the OpenTelemetry API stays a no-op and costs next to nothing.
 *
 * Spans are made at Assay's own ports (`./ports.ts`: Kubernetes API calls, S3 requests) and by the Temporal
 * interceptors (`./temporal.ts`), not by monkey-patching `http`: the worker and CLI are ES modules, which the
 * require-hook instrumentations cannot see without a loader flag.
 */
import { randomUUID } from 'node:crypto';
import { trace, type Tracer } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  BatchSpanProcessor,
  NoopSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { resolveTracingSettings, type TracingConfig, type TracingSettings } from '../spec/tracing-config.js';

/** The instrumentation scope of Assay's own spans. */
export const tracerName = 'assay';

export interface Telemetry {
  readonly settings: TracingSettings;
  readonly resource: Resource;
  /** Where the workflow sandbox's spans go (through the interceptors' sink): the SDK's own processor, or a no-op. */
  readonly spanProcessor: SpanProcessor;
  /** Flushes and stops; idempotent. */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** `service.name` of this process's spans, e.g. `assay-worker`. */
  readonly serviceName: string;
  /** The worker config's `tracing:` section; the environment overlays it. */
  readonly config?: TracingConfig;
  readonly env?: Readonly<Record<string, string | undefined>>;
}

/** The base URL's traces path, as the OTLP/HTTP exporters do for `OTEL_EXPORTER_OTLP_ENDPOINT`. */
export function tracesUrl(endpoint: string): string {
  return `${endpoint.replace(/\/+$/, '')}/v1/traces`;
}

/** The sampler every Assay process uses: the root decides with the ratio, every child follows its parent. */
export function assaySampler(samplingRatio: number): ParentBasedSampler {
  return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(samplingRatio) });
}

let started: Telemetry | null = null;

/**
 * Sets OpenTelemetry up for this process (once; a second call returns the first's handle).
 *
 * @throws {TracingConfigError} when a tracing variable is invalid.
 */
export function startTelemetry(options: TelemetryOptions): Telemetry {
  if (started !== null) return started;
  const settings = resolveTracingSettings(options.env ?? process.env, options.config);
  // The instance tells two processes of one service apart in a trace (a worker and the one that took over).
  const resource = new Resource({
    'service.name': options.serviceName,
    'service.instance.id': randomUUID(),
    'process.pid': process.pid,
  });
  if (!settings.enabled || settings.endpoint === null) {
    started = {
      settings,
      resource,
      spanProcessor: new NoopSpanProcessor(),
      shutdown: () => Promise.resolve(),
    };
    return started;
  }
  const processor = new BatchSpanProcessor(new OTLPTraceExporter({ url: tracesUrl(settings.endpoint) }), {
    // A worker ends many short spans at once (one evaluation is ~40); export in larger, less frequent batches.
    maxQueueSize: 8192,
    maxExportBatchSize: 1024,
    scheduledDelayMillis: 1000,
  });
  const sdk = new NodeSDK({
    resource,
    autoDetectResources: false,
    sampler: assaySampler(settings.samplingRatio),
    spanProcessors: [processor],
    // Traces only: no log or metric export (metrics are scraped from the worker's Prometheus endpoint).
    logRecordProcessors: [],
    instrumentations: [],
  });
  sdk.start();
  let stopping: Promise<void> | null = null;
  started = {
    settings,
    resource,
    spanProcessor: processor,
    shutdown: () => (stopping ??= sdk.shutdown().catch(() => undefined)),
  };
  return started;
}

/** Assay's tracer: the registered provider's, or the API's no-op one when tracing is off. */
export function assayTracer(): Tracer {
  return trace.getTracer(tracerName);
}
