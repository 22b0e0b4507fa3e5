import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { waitFor } from '../support/wait-for.js';

// The stack's trace store (Jaeger v2): a span exported as OTLP/HTTP JSON to its OTLP endpoint is read
// back through Jaeger's query API at `ASSAY_TRACES_UI` (the global setup exports both: ASSAY_TEST_OTLP_ENDPOINT).

/** The parts of `GET /api/traces/<id>` this test reads. */
interface QueryAnswer {
  readonly data?: readonly {
    readonly traceID: string;
    readonly spans: readonly {
      readonly spanID: string;
      readonly operationName: string;
      readonly processID: string;
    }[];
    readonly processes: Readonly<Record<string, { readonly serviceName: string }>>;
  }[];
}

function stackVariable(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the test through the stack-backed Jest global setup`);
  return value;
}

describe('trace store', () => {
  it('stores a span sent as OTLP/HTTP JSON and answers it by trace id', async () => {
    const endpoint = stackVariable('ASSAY_TEST_OTLP_ENDPOINT');
    const ui = stackVariable('ASSAY_TRACES_UI');
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    const serviceName = `assay-trace-store-test-${traceId.slice(0, 8)}`;
    const now = BigInt(Date.now()) * 1_000_000n;
    const exported = await fetch(`${endpoint}/v1/traces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: serviceName } }] },
            scopeSpans: [
              {
                scope: { name: 'trace-store.test' },
                spans: [
                  {
                    traceId,
                    spanId,
                    name: 'evaluation.check',
                    kind: 1,
                    startTimeUnixNano: String(now - 5_000_000n),
                    endTimeUnixNano: String(now),
                    attributes: [{ key: 'assay.test', value: { stringValue: 'trace-store' } }],
                  },
                ],
              },
            ],
          },
        ],
      }),
      signal: AbortSignal.timeout(10_000),
    });
    expect(exported.status).toBe(200);
    await exported.body?.cancel();

    // The store answers 404 until the batch holding the span has been written.
    const trace = await waitFor(
      async () => {
        const res = await fetch(`${ui}/api/traces/${traceId}`, { signal: AbortSignal.timeout(5_000) });
        if (res.status === 404) {
          await res.body?.cancel();
          return undefined;
        }
        if (!res.ok)
          throw new Error(`GET /api/traces/${traceId} answered ${res.status}: ${await res.text()}`);
        return ((await res.json()) as QueryAnswer).data?.[0];
      },
      { timeoutMs: 20_000, what: `trace ${traceId} in the trace store` },
    );
    expect(trace.traceID).toBe(traceId);
    expect(trace.spans).toHaveLength(1);
    const [span] = trace.spans;
    expect(span).toMatchObject({ spanID: spanId, operationName: 'evaluation.check' });
    expect(trace.processes[span?.processID ?? '']?.serviceName).toBe(serviceName);
  });
});
