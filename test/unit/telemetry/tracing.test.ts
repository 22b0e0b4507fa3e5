import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { context, SpanStatusCode, trace, TraceFlags, ROOT_CONTEXT } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import {
  resolveTracingSettings,
  TracingConfigError,
  tracingConfigSchema,
} from '../../../src/spec/tracing-config.js';
import { traceEnv } from '../../../src/spec/trace-context.js';
import { assaySampler, tracesUrl } from '../../../src/telemetry/sdk.js';
import { forwardPodSpans, PodSpansError, spansOfTrace } from '../../../src/telemetry/pod-spans.js';
import { keepFailedTrace } from '../../../src/telemetry/rescue.js';
import { tracedKubeApi } from '../../../src/telemetry/ports.js';
import { evaluationSpans, traceparentOf } from '../../../src/workflows/tracing.js';
import { traceLink } from '../../../src/client/cli/evaluation-common.js';
import { traceFields } from '../../../src/workers/logger.js';
import type { EvaluationOutput } from '../../../src/spec/record.js';

const exporter = new InMemorySpanExporter();
// Ratio 0 at the root: only what a sampled parent (or the rescue) asks for is recorded.
const provider = new NodeTracerProvider({
  sampler: assaySampler(0),
  spanProcessors: [new SimpleSpanProcessor(exporter)],
});

beforeAll(() => provider.register());
afterAll(() => provider.shutdown());
beforeEach(() => exporter.reset());

const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
/** A context whose remote parent is `traceId`, sampled or not, as the Temporal headers give an activity. */
const remote = (sampled: boolean) =>
  trace.setSpanContext(ROOT_CONTEXT, {
    traceId,
    spanId: '00f067aa0ba902b7',
    traceFlags: sampled ? TraceFlags.SAMPLED : TraceFlags.NONE,
    isRemote: true,
  });

describe('tracing settings', () => {
  it('is off without an endpoint and on with one, at the configured ratio', () => {
    expect(resolveTracingSettings({})).toEqual({ enabled: false, samplingRatio: 1, endpoint: null });
    expect(resolveTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:14318' })).toEqual({
      enabled: true,
      samplingRatio: 1,
      endpoint: 'http://127.0.0.1:14318',
    });
    const section = tracingConfigSchema.parse({ samplingRatio: 0.25, endpoint: 'http://store:4318' });
    expect(resolveTracingSettings({}, section)).toEqual({
      enabled: true,
      samplingRatio: 0.25,
      endpoint: 'http://store:4318',
    });
    expect(resolveTracingSettings({ ASSAY_TRACE_SAMPLING_RATIO: '0' }, section).samplingRatio).toBe(0);
  });

  it('is turned off by ASSAY_TRACING=false, OTEL_SDK_DISABLED=true or enabled: false', () => {
    const env = { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:14318' };
    expect(resolveTracingSettings({ ...env, ASSAY_TRACING: 'false' }).enabled).toBe(false);
    expect(resolveTracingSettings({ ...env, OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false);
    expect(resolveTracingSettings(env, tracingConfigSchema.parse({ enabled: false }))).toEqual({
      enabled: false,
      samplingRatio: 1,
      endpoint: null,
    });
  });

  it('names the variable and the reason when one is invalid', () => {
    expect(() => resolveTracingSettings({ ASSAY_TRACE_SAMPLING_RATIO: '1.5' })).toThrow(TracingConfigError);
    expect(() => resolveTracingSettings({ ASSAY_TRACE_SAMPLING_RATIO: '1.5' })).toThrow(
      /ASSAY_TRACE_SAMPLING_RATIO: must be 0 to 1/,
    );
    expect(() => resolveTracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' })).toThrow(
      /OTEL_EXPORTER_OTLP_ENDPOINT/,
    );
    expect(tracingConfigSchema.safeParse({ samplingRatio: -1 }).success).toBe(false);
    expect(tracingConfigSchema.safeParse({ sampling: 1 }).success).toBe(false);
  });

  it('appends /v1/traces to the base URL once', () => {
    expect(tracesUrl('http://127.0.0.1:14318')).toBe('http://127.0.0.1:14318/v1/traces');
    expect(tracesUrl('http://127.0.0.1:14318/')).toBe('http://127.0.0.1:14318/v1/traces');
  });
});

describe("the pod's trace environment", () => {
  const trace = { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, tracestate: 'vendor=x' };

  it('passes TRACEPARENT and TRACESTATE, and ASSAY_SPANS_PATH only where artifacts are collected', () => {
    expect(traceEnv({ trace, env: [], outputs: { artifacts: { paths: ['**'] } } })).toEqual([
      { name: 'TRACEPARENT', value: trace.traceparent },
      { name: 'TRACESTATE', value: 'vendor=x' },
      {
        name: 'ASSAY_SPANS_PATH',
        value: expect.stringMatching(/\/\.assay\/spans\.otlp\.json$/) as unknown as string,
      },
    ]);
    expect(traceEnv({ trace, env: [], outputs: null }).map((v) => v.name)).toEqual([
      'TRACEPARENT',
      'TRACESTATE',
    ]);
  });

  it('leaves a variable the spec sets alone, and sets nothing without a trace', () => {
    expect(traceEnv({ trace, env: [{ name: 'TRACEPARENT' }], outputs: null }).map((v) => v.name)).toEqual([
      'TRACESTATE',
    ]);
    expect(traceEnv({ env: [], outputs: { artifacts: {} } })).toEqual([]);
  });
});

describe("the evaluation's own spans file", () => {
  const file = (ids: string[]) =>
    Buffer.from(
      JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [] },
            scopeSpans: [
              {
                spans: ids.map((id, i) => ({ traceId: id, spanId: `${i}`.padStart(16, '0'), name: 'work' })),
              },
            ],
          },
        ],
      }),
    );

  it("keeps the spans of the evaluation's trace only", () => {
    const other = 'a'.repeat(32);
    const { body, counts } = spansOfTrace(file([traceId, other, traceId.toUpperCase()]), traceId);
    expect(counts).toEqual({ forwarded: 2, dropped: 1 });
    expect(body.resourceSpans[0]?.scopeSpans[0]?.spans.map((s) => s.traceId.toLowerCase())).toEqual([
      traceId,
      traceId,
    ]);
  });

  it('says where a file that is not OTLP/JSON fails', () => {
    expect(() => spansOfTrace(Buffer.from('{'), traceId)).toThrow(PodSpansError);
    expect(() =>
      spansOfTrace(Buffer.from('{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"x"}]}]}]}'), traceId),
    ).toThrow(/resourceSpans\.0\.scopeSpans\.0\.spans\.0\.traceId/);
  });

  it('posts the kept spans to <endpoint>/v1/traces and sends nothing when none is kept', async () => {
    const received: { url: string | undefined; body: string }[] = [];
    const server = createServer((req: IncomingMessage, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ url: req.url, body });
        res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await forwardPodSpans(file([traceId]), traceId, endpoint)).toEqual({ forwarded: 1, dropped: 0 });
      expect(await forwardPodSpans(file(['b'.repeat(32)]), traceId, endpoint)).toEqual({
        forwarded: 0,
        dropped: 1,
      });
      expect(received).toHaveLength(1);
      expect(received[0]?.url).toBe('/v1/traces');
      expect(JSON.stringify(JSON.parse(received[0]?.body ?? ''))).toContain(traceId);
    } finally {
      server.close();
    }
  });
});

describe('failed evaluations are kept whatever the sampling', () => {
  const failed = {
    evaluationId: 'e1',
    team: 'ml',
    outcome: 'Failed',
    reason: 'NonZeroExit',
    message: 'exit code 3',
    cluster: 'local',
    traceId,
    timings: {
      submittedAt: '2026-12-01T10:00:00.000Z',
      queuedAt: '2026-12-01T10:00:01.000Z',
      admittedAt: '2026-12-01T10:00:02.000Z',
      startedAt: '2026-12-01T10:00:03.000Z',
      finishedAt: '2026-12-01T10:00:09.000Z',
    },
    attempts: [
      {
        attempt: 1,
        kind: 'Failed',
        reason: 'NonZeroExit',
        exitCode: 3,
        pod: 'p1',
        startedAt: '2026-12-01T10:00:03.000Z',
        finishedAt: '2026-12-01T10:00:08.000Z',
      },
    ],
  } as unknown as EvaluationOutput;

  it('adds a sampled summary to the unsampled trace of a failed evaluation', () => {
    expect(context.with(remote(false), () => keepFailedTrace(failed))).toBe(true);
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name).sort()).toEqual(['attempt 1', 'evaluation e1', 'queued']);
    for (const span of spans) expect(span.spanContext().traceId).toBe(traceId);
    const root = spans.find((s) => s.name === 'evaluation e1');
    expect(root?.status.code).toBe(SpanStatusCode.ERROR);
    expect(root?.attributes['assay.sampling']).toBe('kept-because-failed');
    expect(spans.find((s) => s.name === 'attempt 1')?.parentSpanId).toBe(root?.spanContext().spanId);
  });

  it('adds nothing to a sampled trace, a succeeded evaluation, or where there is no trace', () => {
    expect(context.with(remote(true), () => keepFailedTrace(failed))).toBe(false);
    expect(context.with(remote(false), () => keepFailedTrace({ ...failed, outcome: 'Succeeded' }))).toBe(
      false,
    );
    expect(keepFailedTrace(failed)).toBe(false);
    expect(context.with(remote(false), () => keepFailedTrace({ ...failed, traceId: null }))).toBe(false);
    expect(exporter.getFinishedSpans()).toEqual([]);
  });
});

describe("the workflow's phase spans", () => {
  it('nests phases in attempts under the root, and gives the pod the current phase as parent', () => {
    const spans = context.with(remote(true), () => {
      const s = evaluationSpans({ 'assay.evaluation_id': 'e1' });
      s.phase('select-cluster');
      s.attempt(1);
      s.phase('running');
      const carrier = s.carrier();
      s.attemptEnded('Failed', 'NonZeroExit');
      s.attempt(2);
      s.phase('running');
      s.finish({ outcome: 'Succeeded', failed: false });
      return { s, carrier };
    });
    expect(spans.s.traceId).toBe(traceId);
    expect(spans.s.sampled).toBe(true);
    const finished = exporter.getFinishedSpans();
    expect(finished.map((s) => s.name)).toEqual([
      'select-cluster',
      'running',
      'attempt 1',
      'running',
      'attempt 2',
    ]);
    const [select, running1, attempt1, , attempt2] = finished;
    expect(select?.parentSpanId).toBe('00f067aa0ba902b7');
    expect(attempt1?.parentSpanId).toBe('00f067aa0ba902b7');
    expect(running1?.parentSpanId).toBe(attempt1?.spanContext().spanId);
    expect(attempt1?.status.code).toBe(SpanStatusCode.ERROR);
    expect(attempt2?.status.code).toBe(SpanStatusCode.UNSET);
    expect(spans.carrier).toEqual({ traceparent: traceparentOf(running1!.spanContext()) });
  });

  it('records nothing but still knows the trace id when the starter did not sample', () => {
    const s = context.with(remote(false), () => {
      const spans = evaluationSpans({});
      spans.attempt(1);
      spans.phase('running');
      return spans;
    });
    s.finish();
    expect(s.traceId).toBe(traceId);
    expect(s.sampled).toBe(false);
    expect(s.carrier()?.traceparent).toMatch(new RegExp(`^00-${traceId}-[0-9a-f]{16}-00$`));
    expect(exporter.getFinishedSpans()).toEqual([]);
  });

  it('has no trace id without the interceptors', () => {
    const s = evaluationSpans({});
    expect(s.traceId).toBeNull();
    expect(s.carrier()).toBeNull();
  });
});

describe('spans at the ports', () => {
  it('wraps each API method in a client span named after it, with the resource, and marks failures', async () => {
    const api = tracedKubeApi(
      {
        readNamespacedPod: (p: { name: string; namespace: string }) => Promise.resolve(`pod ${p.name}`),
        deleteNamespacedJob: () => Promise.reject(new Error('HTTP 403')),
        readNamespacedResourceQuota: () =>
          Promise.reject(Object.assign(new Error('HTTP 404'), { code: 404 })),
      },
      'local',
    );
    await context.with(remote(true), async () => {
      await expect(api.readNamespacedPod({ name: 'p', namespace: 'team-a' })).resolves.toBe('pod p');
      await expect(api.deleteNamespacedJob()).rejects.toThrow('HTTP 403');
      await expect(api.readNamespacedResourceQuota()).rejects.toThrow('HTTP 404');
    });
    const [read, del, absent] = exporter.getFinishedSpans();
    expect(read?.name).toBe('k8s readNamespacedPod');
    expect(read?.attributes).toMatchObject({
      'k8s.cluster.name': 'local',
      'k8s.namespace.name': 'team-a',
      'k8s.resource.name': 'p',
    });
    expect(read?.spanContext().traceId).toBe(traceId);
    expect(del?.status.code).toBe(SpanStatusCode.ERROR);
    // An absent object is an answer the caller handles, not a failure.
    expect(absent?.status.code).toBe(SpanStatusCode.UNSET);
    expect(absent?.attributes['http.response.status_code']).toBe(404);
  });
});

describe('joining logs and traces', () => {
  it('puts trace_id and span_id of the active span on log lines', () => {
    expect(traceFields()).toEqual({});
    context.with(remote(true), () => {
      const span = trace.getTracer('t').startSpan('x');
      context.with(trace.setSpan(context.active(), span), () =>
        expect(traceFields()).toEqual({ trace_id: traceId, span_id: span.spanContext().spanId }),
      );
      span.end();
    });
  });

  it('links to the trace UI when its address is known', () => {
    expect(traceLink(traceId, 'http://127.0.0.1:16686/')).toBe(`http://127.0.0.1:16686/trace/${traceId}`);
    expect(traceLink(traceId, undefined)).toBe(traceId);
  });
});
