/**
 * A small client of the Docker Engine API over its unix socket (node:http, no dependency): JSON calls, raw streams,
 * the multiplexed stdout/stderr framing of logs, and the engine's event stream.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { type Readable } from 'node:stream';

/** An answer of the engine that was not a success. */
export class EngineError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'EngineError';
  }
}

export interface EngineRequest {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  readonly query?: Readonly<Record<string, string | number | boolean | undefined>>;
  readonly body?: unknown;
  /** A raw body (a tar for PUT …/archive). */
  readonly raw?: Buffer;
  readonly signal?: AbortSignal;
}

export interface DockerEngine {
  readonly socket: string;
  /** The answer's body parsed as JSON (null for an empty body). @throws {EngineError} on a status ≥ 300 but 304. */
  json<T>(path: string, options?: EngineRequest): Promise<{ status: number; body: T }>;
  /** The answer as a stream. @throws {EngineError} on a status ≥ 300. */
  stream(path: string, options?: EngineRequest): Promise<IncomingMessage>;
}

function queryString(query: EngineRequest['query']): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) params.set(k, String(v));
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

export function createDockerEngine(socket: string): DockerEngine {
  function send(path: string, options: EngineRequest = {}): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const body =
        options.raw ?? (options.body !== undefined ? Buffer.from(JSON.stringify(options.body)) : undefined);
      const req = httpRequest(
        {
          socketPath: socket,
          path: `${path}${queryString(options.query)}`,
          method: options.method ?? 'GET',
          headers: {
            ...(body !== undefined
              ? {
                  'Content-Type': options.raw !== undefined ? 'application/x-tar' : 'application/json',
                  'Content-Length': body.length,
                }
              : {}),
          },
          ...(options.signal !== undefined ? { signal: options.signal } : {}),
        },
        resolve,
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  async function failure(res: IncomingMessage): Promise<EngineError> {
    const text = (await readAll(res)).toString('utf8');
    let message = text.trim();
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? message;
    } catch {
      // not JSON: the text as it is
    }
    return new EngineError(res.statusCode ?? 0, message);
  }

  return {
    socket,
    async json<T>(path: string, options?: EngineRequest) {
      const res = await send(path, options);
      const status = res.statusCode ?? 0;
      if (status >= 300 && status !== 304) throw await failure(res);
      const text = (await readAll(res)).toString('utf8');
      return { status, body: (text.trim() === '' ? null : JSON.parse(text)) as T };
    },
    async stream(path, options) {
      const res = await send(path, options);
      if ((res.statusCode ?? 0) >= 300) throw await failure(res);
      return res;
    },
  };
}

/**
 * The payload of one stream out of the engine's multiplexed framing (8-byte headers: stream 1 stdout, 2 stderr, then
 * a big-endian length), for containers without a TTY.
 */
export async function* demultiplex(
  source: AsyncIterable<Buffer> | Iterable<Buffer>,
  want: 1 | 2,
): AsyncGenerator<Buffer> {
  let pending: Buffer = Buffer.alloc(0);
  for await (const chunk of source) {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    let offset = 0;
    const out: Buffer[] = [];
    while (pending.length - offset >= 8) {
      const size = pending.readUInt32BE(offset + 4);
      if (pending.length - offset < 8 + size) break;
      if (pending[offset] === want) out.push(pending.subarray(offset + 8, offset + 8 + size));
      offset += 8 + size;
    }
    pending = pending.subarray(offset);
    if (out.length > 0) yield out.length === 1 ? out[0]! : Buffer.concat(out);
  }
}

/** One container event of `GET /events`. */
export interface EngineEvent {
  readonly Type: string;
  readonly Action: string;
  readonly Actor: { readonly ID: string; readonly Attributes: Readonly<Record<string, string>> };
  readonly time: number;
  readonly timeNano: number;
}

/** Parses the engine's event stream (JSON objects one after another) into events. */
export async function* parseEvents(source: AsyncIterable<Buffer>): AsyncGenerator<EngineEvent> {
  let pending = '';
  for await (const chunk of source) {
    pending += chunk.toString('utf8');
    let newline = pending.indexOf('\n');
    while (newline >= 0) {
      const line = pending.slice(0, newline).trim();
      pending = pending.slice(newline + 1);
      if (line !== '') yield JSON.parse(line) as EngineEvent;
      newline = pending.indexOf('\n');
    }
  }
}
