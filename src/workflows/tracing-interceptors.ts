/**
 * Assay's workflow interceptor module (bundled through `src/telemetry/temporal.ts`): the SDK's OpenTelemetry workflow
 * interceptors, which open `RunWorkflow:<type>` under the starter's span from the workflow's headers and carry the
 * context into every activity, timer and child they schedule.
 *
 * Before them it sets the sandbox's sampler, which OpenTelemetry's browser build (the one the workflow bundle gets)
 * reads from globals: `parentbased_always_off`, so a workflow span is recorded only under a sampled parent, the
 * sampling decision is the starter's (the client's ratio), and a workflow started without a trace (by a Temporal
 * Schedule, say) records none. A failed evaluation is still kept (`src/telemetry/rescue.ts`).
 */
import type { WorkflowInterceptors } from '@temporalio/workflow';
import {
  OpenTelemetryInboundInterceptor,
  OpenTelemetryInternalsInterceptor,
  OpenTelemetryOutboundInterceptor,
} from '@temporalio/interceptors-opentelemetry/lib/workflow/index.js';

Object.assign(globalThis, { OTEL_TRACES_SAMPLER: 'parentbased_always_off' });

export const interceptors = (): WorkflowInterceptors => ({
  inbound: [new OpenTelemetryInboundInterceptor()],
  outbound: [new OpenTelemetryOutboundInterceptor()],
  internals: [new OpenTelemetryInternalsInterceptor()],
});
