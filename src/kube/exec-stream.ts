/**
 * `exec` into a container through the API server with the output as a Readable that applies backpressure: when the
 * consumer is slower than the container, the WebSocket is paused, TCP fills up, and `tar` in the pod blocks. The
 * client library writes each frame to the stdout Writable and ignores its answer, so without this a fast producer
 * and a slow store would hold the whole stream in the worker's memory.
 */
import { PassThrough, Writable, type Readable } from 'node:stream';
import { Exec, type KubeConfig, type V1Status } from '@kubernetes/client-node';

/** How one exec ended. */
export interface ExecOutcome {
  /** 0 on success; the process's exit code otherwise; null when the status said neither. */
  readonly exitCode: number | null;
  readonly status: V1Status | null;
  /** The command's stderr, truncated to `maxStderrBytes`. */
  readonly stderr: string;
}

export interface ExecStream {
  readonly stdout: Readable;
  /** Settles once the connection has closed: with the outcome, or rejects when the connection failed. */
  readonly done: Promise<ExecOutcome>;
  /** Closes the connection (e.g. when the consumer gave up). */
  close(): void;
}

export interface ExecStreamOptions {
  readonly namespace: string;
  readonly pod: string;
  readonly container: string;
  readonly command: string[];
  readonly signal?: AbortSignal;
  /** Bytes buffered before the socket is paused; default 4 MiB. */
  readonly highWaterMark?: number;
  readonly maxStderrBytes?: number;
}

interface PausableSocket {
  pause(): void;
  resume(): void;
  close(): void;
  on(event: 'close', listener: (code: number, reason: Buffer) => void): void;
  on(event: 'error', listener: (err: Error) => void): void;
}

function exitCodeOf(status: V1Status | null): number | null {
  if (status === null) return null;
  if (status.status === 'Success') return 0;
  const cause = status.details?.causes?.find((c) => c.reason === 'ExitCode');
  if (cause?.message !== undefined && /^\d+$/.test(cause.message)) return Number(cause.message);
  return null;
}

/**
 * Starts `command` in the container and returns its stdout as a stream.
 *
 * @throws when the connection cannot be opened (pod or container missing, not running, forbidden).
 */
export async function execStream(config: KubeConfig, options: ExecStreamOptions): Promise<ExecStream> {
  const highWaterMark = options.highWaterMark ?? 4 * 1024 * 1024;
  const maxStderr = options.maxStderrBytes ?? 64 * 1024;
  const stdout = new PassThrough({ highWaterMark });
  let socket: PausableSocket | null = null;
  let paused = false;
  let status: V1Status | null = null;
  let stderrText = '';

  // The library calls `write` per frame and `end` on the status frame; we forward to `stdout` and pause the socket
  // while `stdout` is full.
  const sink = new Writable({
    highWaterMark,
    write(chunk: Buffer, _encoding, callback) {
      if (stdout.write(chunk)) callback();
      else stdout.once('drain', () => callback());
    },
    final(callback) {
      stdout.end();
      callback();
    },
  });
  const write = sink.write.bind(sink) as (chunk: Buffer) => boolean;
  sink.write = ((chunk: Buffer) => {
    const ok = write(chunk);
    if (!ok && !paused && socket !== null) {
      paused = true;
      socket.pause();
    }
    return ok;
  }) as typeof sink.write;
  sink.on('drain', () => {
    if (paused && socket !== null) {
      paused = false;
      socket.resume();
    }
  });
  const stderr = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (stderrText.length < maxStderr)
        stderrText += chunk.toString('utf8').slice(0, maxStderr - stderrText.length);
      callback();
    },
  });

  const exec = new Exec(config);
  const connection: unknown = await exec.exec(
    options.namespace,
    options.pod,
    options.container,
    options.command,
    sink,
    stderr,
    null,
    false,
    (s) => (status = s),
  );
  socket = connection as PausableSocket;
  const ws = socket;
  const onAbort = (): void => ws.close();
  options.signal?.addEventListener('abort', onAbort, { once: true });

  const done = new Promise<ExecOutcome>((resolve, reject) => {
    let failure: Error | null = null;
    ws.on('error', (err) => (failure = err));
    ws.on('close', () => {
      options.signal?.removeEventListener('abort', onAbort);
      // Frames already handed to the sink are in order before `end`.
      if (!sink.writableEnded) sink.end();
      if (failure !== null) {
        stdout.destroy(failure);
        reject(failure);
        return;
      }
      if (status === null) {
        const err = new Error('the exec connection closed before the command reported its status');
        stdout.destroy(err);
        reject(err);
        return;
      }
      resolve({ exitCode: exitCodeOf(status), status, stderr: stderrText });
    });
  });
  // The consumer may never await `done` if it failed first; the rejection is reported through `stdout`.
  done.catch(() => undefined);
  return { stdout, done, close: () => ws.close() };
}
