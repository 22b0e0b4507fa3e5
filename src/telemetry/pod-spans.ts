/**
 * Forwards the spans an evaluation left in `ASSAY_SPANS_PATH` (OTLP/JSON, docs/observability.md) to the trace store,
 * so its own spans join the evaluation's trace although its pod has no network to export them itself. The file is
 * untrusted: it is parsed through a schema, bounded in size by the collector, and only spans of the evaluation's own
 * trace are forwarded — an evaluation cannot write into anyone else's trace.
 */
import { z } from 'zod';
import { tracesUrl } from './sdk.js';

const hexId = (length: number) => z.string().regex(new RegExp(`^[0-9a-fA-F]{${length}}$`));

const otlpSpanSchema = z.looseObject({ traceId: hexId(32), spanId: hexId(16), name: z.string().max(1024) });
const otlpJsonSchema = z.object({
  resourceSpans: z
    .array(
      z.looseObject({
        scopeSpans: z.array(z.looseObject({ spans: z.array(otlpSpanSchema).max(10_000) })).max(100),
      }),
    )
    .max(100),
});

export interface ForwardedSpans {
  /** Spans of the evaluation's trace, sent. */
  readonly forwarded: number;
  /** Spans of other traces, dropped. */
  readonly dropped: number;
}

/** Thrown when the spans file is not OTLP/JSON; the message says where it fails. */
export class PodSpansError extends Error {
  constructor(message: string) {
    super(`spans file: ${message}`);
    this.name = 'PodSpansError';
  }
}

/** Keeps the spans of `traceId` only; throws {@link PodSpansError} when `bytes` is not OTLP/JSON. */
export function spansOfTrace(
  bytes: Buffer,
  traceId: string,
): { body: z.infer<typeof otlpJsonSchema>; counts: ForwardedSpans } {
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new PodSpansError(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = otlpJsonSchema.safeParse(doc);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PodSpansError(`${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  let forwarded = 0;
  let dropped = 0;
  const wanted = traceId.toLowerCase();
  const body = {
    resourceSpans: parsed.data.resourceSpans.map((rs) => ({
      ...rs,
      scopeSpans: rs.scopeSpans.map((ss) => ({
        ...ss,
        spans: ss.spans.filter((span) => {
          const mine = span.traceId.toLowerCase() === wanted;
          if (mine) forwarded++;
          else dropped++;
          return mine;
        }),
      })),
    })),
  };
  return { body, counts: { forwarded, dropped } };
}

/** Sends the spans of `traceId` in `bytes` to the OTLP/HTTP receiver at `endpoint`. */
export async function forwardPodSpans(
  bytes: Buffer,
  traceId: string,
  endpoint: string,
  signal?: AbortSignal,
): Promise<ForwardedSpans> {
  const { body, counts } = spansOfTrace(bytes, traceId);
  if (counts.forwarded === 0) return counts;
  const response = await fetch(tracesUrl(endpoint), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(10_000),
  });
  if (!response.ok) {
    throw new Error(`the trace store answered ${response.status}: ${(await response.text()).slice(0, 200)}`);
  }
  return counts;
}
