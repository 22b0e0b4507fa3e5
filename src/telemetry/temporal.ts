/**
 * The Temporal side of tracing (docs/observability.md): the SDK's OpenTelemetry interceptors on every client, worker
 * and workflow bundle, so one trace runs client → workflow → activity → Kubernetes/S3.
 *
 * They are installed whether tracing is on or off, so a workflow's history never depends on the setting: the
 * interceptors' SDK flags are recorded in every history, and a history replays only under the interceptors it was
 * recorded with (temporalio/sdk-typescript#1677). Off, they carry no context and record nothing.
 */
import { fileURLToPath } from 'node:url';
import type { WorkflowClientInterceptor } from '@temporalio/client';
import {
  makeWorkflowExporter,
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/worker/index.js';
import { OpenTelemetryWorkflowClientInterceptor } from '@temporalio/interceptors-opentelemetry/lib/client/index.js';
import type { ActivityInterceptorsFactory, InjectedSinks } from '@temporalio/worker';
import type { OpenTelemetrySinks } from '@temporalio/interceptors-opentelemetry/lib/workflow/definitions.js';
import type { Telemetry } from './sdk.js';

/**
 * The workflow interceptor modules for `bundleWorkflowCode({ workflowInterceptorModules })`: Assay's, which installs
 * the SDK's OpenTelemetry workflow interceptors with the sandbox's sampler set first.
 */
export const workflowInterceptorModules: readonly string[] = [
  fileURLToPath(new URL('../workflows/tracing-interceptors.ts', import.meta.url)),
];

/** The client interceptors: a `StartWorkflow:<type>` span whose context travels in the workflow's headers. */
export function tracingClientInterceptors(): { workflow: WorkflowClientInterceptor[] } {
  return { workflow: [new OpenTelemetryWorkflowClientInterceptor()] };
}

/** The activity interceptors: a `RunActivity:<type>` span, child of the workflow's `StartActivity:<type>`. */
export const tracingActivityInterceptor: ActivityInterceptorsFactory = (ctx) => ({
  inbound: new OpenTelemetryActivityInboundInterceptor(ctx),
  outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
});

/** The sink through which the workflow sandbox's spans reach this process's span processor. */
export function tracingSinks(
  telemetry: Pick<Telemetry, 'spanProcessor' | 'resource'>,
): InjectedSinks<OpenTelemetrySinks> {
  return { exporter: makeWorkflowExporter(telemetry.spanProcessor, telemetry.resource) };
}
