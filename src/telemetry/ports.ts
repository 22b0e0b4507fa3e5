/**
 * Spans at Assay's own ports (docs/observability.md): every Kubernetes API call made through the generated clients
 * (`k8s <method>`), the streamed GETs (`k8s GET <resource>`: pod logs), and every S3 request (`s3 <Command>`,
 * including each part of a multipart upload). Client spans, children of whatever span is active — in a worker, the
 * activity's. With tracing off the API hands out no-op spans, so the wrappers cost a function call.
 */
import { SpanKind, SpanStatusCode, type Attributes, type Span } from '@opentelemetry/api';
import type { S3Client } from '@aws-sdk/client-s3';
import { assayTracer } from './sdk.js';

/** The status code an error carries (the generated Kubernetes clients' `code`, the AWS SDK's `$metadata`). */
function statusOf(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown; $metadata?: { httpStatusCode?: unknown } };
  for (const value of [e.code, e.statusCode, e.$metadata?.httpStatusCode]) {
    if (typeof value === 'number') return value;
  }
  return undefined;
}

/**
 * 404 and 409 are answers Assay asks for and handles (read-or-absent, create-if-missing), not failures: they keep the
 * status code but not the error status a trace UI paints red (the semantic conventions' default for client 4xx).
 */
const expectedStatuses: ReadonlySet<number> = new Set([404, 409]);

function failed(span: Span, err: unknown): void {
  const status = statusOf(err);
  if (status !== undefined) span.setAttribute('http.response.status_code', status);
  if (status !== undefined && expectedStatuses.has(status)) return;
  span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
}

/** Runs `fn` in a client span `name`, ending it with `fn`'s outcome. */
export async function inClientSpan<T>(
  name: string,
  attributes: Attributes,
  fn: () => Promise<T>,
): Promise<T> {
  return await assayTracer().startActiveSpan(name, { kind: SpanKind.CLIENT, attributes }, async (span) => {
    try {
      return await fn();
    } catch (err) {
      failed(span, err);
      throw err;
    } finally {
      span.end();
    }
  });
}

/** The resource a generated client's parameters name: `namespace`, `name`. */
function kubeAttributes(cluster: string | null, method: string, args: unknown[]): Attributes {
  const params = typeof args[0] === 'object' && args[0] !== null ? (args[0] as Record<string, unknown>) : {};
  return {
    'k8s.api.method': method,
    ...(cluster !== null ? { 'k8s.cluster.name': cluster } : {}),
    ...(typeof params.namespace === 'string' ? { 'k8s.namespace.name': params.namespace } : {}),
    ...(typeof params.name === 'string' ? { 'k8s.resource.name': params.name } : {}),
  };
}

/**
 * A generated Kubernetes API client (`CoreV1Api`, `BatchV1Api`, …) whose promise-returning methods each run in a
 * span `k8s <method>`.
 */
export function tracedKubeApi<T extends object>(api: T, cluster: string | null = null): T {
  return new Proxy(api, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function' || typeof property !== 'string') return value;
      const method = value as (...args: unknown[]) => unknown;
      return (...args: unknown[]) =>
        inClientSpan(`k8s ${property}`, kubeAttributes(cluster, property, args), () =>
          Promise.resolve(method.apply(target, args)),
        );
    },
  });
}

/** Adds a span per S3 request to `client`'s middleware stack (`s3 PutObject`, `s3 UploadPart`, …); idempotent. */
export function traceS3Client(client: S3Client, bucket: string): S3Client {
  const name = 'assayTracing';
  if (client.middlewareStack.identify().some((m) => m.startsWith(`${name} `))) return client;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as { Key?: unknown; PartNumber?: unknown };
      return await inClientSpan(
        `s3 ${context.commandName?.replace(/Command$/, '') ?? 'request'}`,
        {
          'aws.s3.bucket': bucket,
          ...(typeof input.Key === 'string' ? { 'aws.s3.key': input.Key } : {}),
          ...(typeof input.PartNumber === 'number' ? { 'aws.s3.part_number': input.PartNumber } : {}),
        },
        () => next(args),
      );
    },
    { step: 'initialize', name },
  );
  return client;
}
