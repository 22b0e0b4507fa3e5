/**
 * The HTTPS server of `assay admission`: `/validate`, `/mutate` (AdmissionReview v1), `/convert` (ConversionReview
 * v1) and `/healthz`. Each review is parsed with zod at the boundary and answered within the API server's
 * `timeoutSeconds`; a body that is not a review is answered 400 with the field that is wrong.
 *
 * @packageDocumentation
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { formatPath } from '../spec/issues.js';
import { conversionResponse } from './conversion.js';
import { admissionPaths } from './defaults.js';
import { mutateEvaluationJob, validateEvaluationJob } from './evaluation-job.js';
import {
  admissionResponse,
  admissionReviewSchema,
  conversionReviewSchema,
  type AdmissionDecision,
  type AdmissionRequest,
  type KubeObject,
} from './review.js';
import type { NamespaceTeams } from './teams.js';
import { noTeamDefaults, type TeamDefaultsConfig } from './team-defaults.js';

/** Reviews carry the object and the old object: twice Kubernetes' 1.5 MiB object limit, and some room. */
const maxBodyBytes = 4 * 1024 * 1024;

export interface AdmissionServerOptions {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly teams: NamespaceTeams;
  /** Each team's default priority, timeout and cost labels (the admission config's `teamDefaults`); none by default. */
  readonly teamDefaults?: TeamDefaultsConfig;
  readonly logger: Pick<Logger, 'info' | 'warn' | 'error' | 'debug'>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBodyBytes) throw new HttpError(413, `request body larger than ${maxBodyBytes} bytes`);
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not JSON');
  }
}

function parseOr400<S extends z.ZodType>(schema: S, body: unknown, what: string): z.output<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const first = result.error.issues[0];
  throw new HttpError(
    400,
    `not a ${what}: ${first ? `${formatPath(first.path) || '(body)'}: ${first.message}` : ''}`,
  );
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, {
    'content-type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

type Review = (request: AdmissionRequest) => Promise<AdmissionDecision>;

/** Creates the server (not yet listening). */
export function createAdmissionServer(options: AdmissionServerOptions): Server {
  const { logger, teams } = options;
  const teamDefaults = options.teamDefaults ?? noTeamDefaults;
  const reviews: Readonly<Record<string, Review>> = {
    [admissionPaths.validate]: (request) => validateEvaluationJob(request, teams),
    [admissionPaths.mutate]: (request) => mutateEvaluationJob(request, teams, teamDefaults),
  };
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = new URL(req.url ?? '/', 'https://localhost').pathname;
    if (path === '/healthz' && req.method === 'GET') return send(res, 200, 'ok\n');
    const review = reviews[path];
    if (review === undefined && path !== admissionPaths.convert)
      throw new HttpError(404, `no handler for ${path}`);
    if (req.method !== 'POST') throw new HttpError(405, `${path} takes POST`);
    const body = await readBody(req);
    const started = performance.now();
    if (review === undefined) {
      const { request } = parseOr400(conversionReviewSchema, body, 'ConversionReview');
      const answer = conversionResponse(request);
      const result = (answer.response as KubeObject).result as { status: string; message?: string };
      logger.info(
        {
          path,
          uid: request.uid,
          desiredAPIVersion: request.desiredAPIVersion,
          objects: request.objects.length,
          result: result.status,
          ms: Math.round(performance.now() - started),
          ...(result.message ? { message: result.message } : {}),
        },
        'conversion',
      );
      return send(res, 200, answer);
    }
    const { request } = parseOr400(admissionReviewSchema, body, 'AdmissionReview');
    const decision = await review(request);
    logger.info(
      {
        path,
        uid: request.uid,
        operation: request.operation,
        namespace: request.namespace,
        name: request.name,
        user: request.userInfo.username,
        allowed: decision.allowed,
        ms: Math.round(performance.now() - started),
        ...(decision.allowed
          ? { patched: (decision.patch?.length ?? 0) > 0 }
          : { message: decision.refusal.message }),
      },
      'admission',
    );
    return send(res, 200, admissionResponse(request.uid, decision));
  };
  const server = createServer({ cert: options.cert, key: options.key, minVersion: 'TLSv1.2' }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      const message = err instanceof Error ? err.message : String(err);
      if (status === 500) logger.error({ err, url: req.url }, 'admission request failed');
      else logger.warn({ url: req.url, status, message }, 'bad admission request');
      if (!res.headersSent) send(res, status, `${message}\n`);
      else res.destroy();
    });
  });
  // The API server gives a webhook at most timeoutSeconds (30 s at most); nothing legitimate takes longer.
  server.requestTimeout = 30_000;
  server.headersTimeout = 10_000;
  return server;
}

/**
 * Starts listening.
 * @throws Error when the address is taken or cannot be bound.
 */
export async function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** Stops accepting connections and closes the idle ones; resolves once every request in flight is answered (or `graceMs` passed). */
export async function close(server: Server, graceMs = 2000): Promise<void> {
  // A connection the API server keeps open without a request in flight is not always seen as idle (it drops its
  // own after 90 s): after the grace, every connection is closed, so a stop never waits for the peer's timeout.
  const force = setTimeout(() => server.closeAllConnections(), graceMs);
  try {
    await new Promise<void>((resolve, reject) => {
      server.close((err) => (err ? reject(err) : resolve()));
      server.closeIdleConnections();
    });
  } finally {
    clearTimeout(force);
  }
}
