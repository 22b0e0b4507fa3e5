/**
 * The log capture engine (DESIGN.md "Log capture"), free of Temporal and Kubernetes: it follows one or two log streams
 * from a {@link LogSource}, writes the raw lines and the grouped events to object storage as they arrive through
 * multipart uploads, and exposes a small {@link CaptureCheckpoint} after every stored part. Started again from a
 * checkpoint it continues the same uploads from the last stored line: none lost, none repeated.
 *
 * Memory is bounded: per file, the part being filled and the part being uploaded. While a part cannot be stored (the
 * store is down), reading pauses, which pushes back on the log stream; a stream that breaks meanwhile is re-read from
 * the last line read.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { MultipartUploadNotFoundError, StorageError, StorageRequestError } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { EventGrouper, type LogStreamName, type MultilineRules } from './events.js';
import { LineSplitter, advance, timestampKey, type LineCursor, type StampedLine } from './lines.js';

/** The API server's names of the streams; null reads both, merged. */
export type SourceStream = 'Stdout' | 'Stderr' | null;

/** What the capture needs from the cluster. */
export interface LogSource {
  /**
   * Opens the container's log from `since` (null: from its start), with timestamps. With `follow` the stream stays
   * open while the container runs.
   *
   * @throws {LogGoneError} when the pod (and so its log) no longer exists.
   */
  open(
    stream: SourceStream,
    since: string | null,
    follow: boolean,
    signal: AbortSignal,
  ): Promise<AsyncIterable<Buffer>>;
  /** Whether the container still runs; `gone` when the pod no longer exists. */
  state(signal: AbortSignal): Promise<'running' | 'ended' | 'waiting' | 'gone'>;
}

/** Thrown by a {@link LogSource} when the log no longer exists (the pod was removed). */
export class LogGoneError extends Error {
  readonly code = 'LOG_GONE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LogGoneError';
  }
}

const cursorSchema = z.object({ ts: z.string(), n: z.number().int().positive() }).nullable();

const uploadSchema = z.object({
  key: z.string(),
  uploadId: z.string().nullable(),
  parts: z.array(z.object({ partNumber: z.number().int().positive(), etag: z.string(), size: z.number() })),
  bytes: z.number().int().nonnegative(),
  completed: z.boolean(),
});
export type UploadState = z.infer<typeof uploadSchema>;

const streamNameSchema = z.enum(['stdout', 'stderr', 'combined']);

/** The resume point heartbeated by the capture activity: upload ids, stored parts and the last stored line. */
export const captureCheckpointSchema = z.object({
  version: z.literal(1),
  pod: z.string(),
  split: z.boolean(),
  streams: z.array(
    z.object({
      name: streamNameSchema,
      log: uploadSchema,
      /** Last line stored in the log file. */
      logCursor: cursorSchema,
      /** Number of lines stored in the log file. */
      lines: z.number().int().nonnegative(),
      /** Last line covered by an event stored in `events.ndjson`. */
      eventsCursor: cursorSchema,
    }),
  ),
  events: uploadSchema,
  /** Number of events stored in `events.ndjson`. */
  eventCount: z.number().int().nonnegative(),
});
export type CaptureCheckpoint = z.infer<typeof captureCheckpointSchema>;

/** The files of one capture. */
export interface CaptureKeys {
  readonly stdout: string;
  readonly stderr: string;
  readonly combined: string;
  readonly events: string;
}

export interface CaptureOptions {
  readonly store: ObjectStore;
  readonly source: LogSource;
  readonly keys: CaptureKeys;
  readonly pod: string;
  readonly split: boolean;
  readonly rules: MultilineRules;
  /** Where to start: a checkpoint from an earlier run, or null. */
  readonly resume: CaptureCheckpoint | null;
  /** Bytes per part (S3: at least 5 MiB except the last). */
  readonly partSizeBytes?: number;
  /** Called with a fresh checkpoint after every stored part and after completion. */
  readonly onCheckpoint?: (checkpoint: CaptureCheckpoint) => void;
  /** Pause before re-opening a log stream or retrying a store call; grows to `maxRetryDelayMs`. */
  readonly retryDelayMs?: number;
  readonly maxRetryDelayMs?: number;
  /** How long the final read after a drain may take. */
  readonly drainTimeoutMs?: number;
}

/** What a finished capture stored. */
export interface CaptureResult {
  readonly split: boolean;
  readonly files: Readonly<Record<LogStreamName, { key: string; bytes: number } | undefined>>;
  readonly events: { key: string; bytes: number; count: number };
  readonly lines: number;
}

export interface CaptureSignals {
  /** Stop at once without finishing (worker shutdown, lost heartbeat): the checkpoint is where to resume. */
  readonly abort: AbortSignal;
  /** Stop following: read what the log holds now, store everything and finish. */
  readonly drain: AbortSignal;
}

export const defaultPartSizeBytes = 8 * 1024 * 1024;

/**
 * Whether a store call may succeed if tried again. Only answers that say "never" stop the capture (missing bucket or
 * upload, denied access, an invalid key, an HTTP error answer); anything without an answer — a refused or reset
 * connection, however the SDK wraps it — is the store being away, and is waited out.
 */
function isRetryable(err: unknown): boolean {
  if (err instanceof StorageRequestError) return err.httpStatus === undefined || err.httpStatus >= 500;
  if (err instanceof StorageError) return err.retryable;
  return !(err instanceof Error && err.name === 'AbortError');
}

/** A store call failed for good: the capture stops (the activity's retry resumes from the checkpoint). */
class StoreFailedError extends Error {
  readonly code = 'LOG_STORE_FAILED';
  constructor(cause: unknown) {
    super(`storing the log failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StoreFailedError';
  }
}

/** Runs `fn` until it succeeds, backing off on retryable storage errors (the store may be down for a while). */
async function retrying<T>(
  fn: () => Promise<T>,
  signal: AbortSignal,
  delays: { first: number; max: number },
): Promise<T> {
  let delay = delays.first;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (signal.aborted || !isRetryable(err)) throw err;
      await sleep(delay, undefined, { signal });
      delay = Math.min(delay * 2, delays.max);
    }
  }
}

/** A growable byte buffer that copies what it is given (so that source chunks are not retained). */
class ByteBuffer {
  #buf: Buffer;
  #len = 0;
  constructor(capacity: number) {
    this.#buf = Buffer.allocUnsafe(capacity);
  }
  get length(): number {
    return this.#len;
  }
  append(bytes: Buffer | string): void {
    const n = typeof bytes === 'string' ? Buffer.byteLength(bytes) : bytes.length;
    if (this.#len + n > this.#buf.length) {
      const next = Buffer.allocUnsafe(Math.max(this.#buf.length * 2, this.#len + n));
      this.#buf.copy(next, 0, 0, this.#len);
      this.#buf = next;
    }
    if (typeof bytes === 'string') this.#len += this.#buf.write(bytes, this.#len);
    else this.#len += bytes.copy(this.#buf, this.#len);
  }
  appendByte(byte: number): void {
    if (this.#len + 1 > this.#buf.length) this.append(Buffer.of(byte));
    else this.#buf[this.#len++] = byte;
  }
  /** The bytes so far, and a fresh empty buffer for what follows. */
  take(capacity: number): Buffer {
    const out = this.#buf.subarray(0, this.#len);
    this.#buf = Buffer.allocUnsafe(capacity);
    this.#len = 0;
    return out;
  }
}

/**
 * One file written as a multipart upload, part by part: at most one part uploading while the next fills. `M` marks
 * what the bytes so far cover (a log cursor), so that the checkpoint says exactly what is stored.
 */
class PartWriter<M> {
  readonly state: UploadState;
  durable: M;
  #pending: M;
  #buffer: ByteBuffer;
  #inflight: Promise<void> | null = null;
  readonly #partSize: number;

  constructor(
    private readonly store: ObjectStore,
    state: UploadState,
    mark: M,
    partSize: number,
    private readonly signal: AbortSignal,
    private readonly delays: { first: number; max: number },
    private readonly stored: () => void,
    private readonly contentType: string,
  ) {
    this.state = { ...state, parts: [...state.parts] };
    this.durable = mark;
    this.#pending = mark;
    this.#partSize = partSize;
    this.#buffer = new ByteBuffer(Math.ceil(partSize * 1.1));
  }

  get buffer(): ByteBuffer {
    return this.#buffer;
  }

  /** Says what the buffered bytes cover. */
  mark(mark: M): void {
    this.#pending = mark;
  }

  /** Sends a full part (or, with `force`, whatever is buffered); waits while the previous part is still uploading. */
  async cut(force = false): Promise<void> {
    while (this.#inflight !== null) await this.#inflight;
    const size = this.#buffer.length;
    if (size === 0 || (!force && size < this.#partSize)) return;
    const body = this.#buffer.take(Math.ceil(this.#partSize * 1.1));
    const mark = this.#pending;
    const upload = this.#upload(body, mark).then(
      () => {
        this.#inflight = null;
      },
      (err: unknown) => {
        throw this.signal.aborted ? err : new StoreFailedError(err);
      },
    );
    // Awaited by the next cut or by finish; never left unhandled.
    upload.catch(() => undefined);
    this.#inflight = upload;
  }

  async #upload(body: Buffer, mark: M): Promise<void> {
    const { key } = this.state;
    this.state.uploadId ??= (
      await retrying(
        () => this.store.createMultipart(key, { contentType: this.contentType, signal: this.signal }),
        this.signal,
        this.delays,
      )
    ).uploadId;
    const uploadId = this.state.uploadId;
    const partNumber = this.state.parts.length + 1;
    const part = await retrying(
      () => this.store.uploadPart(key, uploadId, partNumber, body, { signal: this.signal }),
      this.signal,
      this.delays,
    );
    this.state.parts.push({ partNumber, etag: part.etag, size: part.size });
    this.state.bytes += body.length;
    this.durable = mark;
    this.stored();
  }

  /** Stores the rest and completes the object (an empty object when nothing was written). Idempotent. */
  async finish(): Promise<void> {
    await this.cut(true);
    while (this.#inflight !== null) await this.#inflight;
    if (this.state.completed) return;
    const { key, uploadId } = this.state;
    if (uploadId === null) {
      await retrying(
        () => this.store.put(key, '', { contentType: this.contentType, signal: this.signal }),
        this.signal,
        this.delays,
      );
    } else {
      try {
        await retrying(
          () => this.store.completeMultipart(key, uploadId, this.state.parts, { signal: this.signal }),
          this.signal,
          this.delays,
        );
      } catch (err) {
        // Completed by an earlier run that stopped before it could say so.
        if (!(err instanceof MultipartUploadNotFoundError) || !(await this.store.exists(key))) throw err;
      }
    }
    this.state.completed = true;
    this.durable = this.#pending;
    this.stored();
  }
}

function emptyUpload(key: string): UploadState {
  return { key, uploadId: null, parts: [], bytes: 0, completed: false };
}

function earlier(a: LineCursor | null, b: LineCursor | null): LineCursor | null {
  if (a === null || b === null) return null;
  return timestampKey(a.ts) <= timestampKey(b.ts) ? a : b;
}

/** True when the line at `line` comes after `pos` in the same stream. */
function isAfter(line: LineCursor, pos: LineCursor | null): boolean {
  if (pos === null) return true;
  const a = timestampKey(line.ts);
  const b = timestampKey(pos.ts);
  return a > b || (a === b && line.n > pos.n);
}

interface LogMark {
  readonly cursor: LineCursor | null;
  readonly lines: number;
}

interface StreamState {
  readonly name: LogStreamName;
  readonly source: SourceStream;
  readonly log: PartWriter<LogMark>;
  readonly grouper: EventGrouper<LineCursor>;
  /** Last line appended to the log buffer. */
  logPos: LineCursor | null;
  /** Lines appended to the log buffer, in all. */
  lines: number;
  /** Last line fed to the grouper. */
  eventPos: LineCursor | null;
}

/** Per stream, the last line covered by the events written so far. */
interface EventMarks {
  readonly cursors: Partial<Record<LogStreamName, LineCursor | null>>;
  readonly count: number;
}

/** One capture of one attempt's logs; {@link run} once. */
export class LogCapture {
  readonly #o: CaptureOptions;
  readonly #streams: StreamState[];
  readonly #events: PartWriter<EventMarks>;
  readonly #eventCursors: Partial<Record<LogStreamName, LineCursor | null>>;
  readonly #internal = new AbortController();
  #eventCount: number;
  readonly #delays: { first: number; max: number };

  constructor(options: CaptureOptions) {
    this.#o = options;
    const resume = options.resume;
    const partSize = options.partSizeBytes ?? defaultPartSizeBytes;
    this.#delays = { first: options.retryDelayMs ?? 250, max: options.maxRetryDelayMs ?? 5000 };
    const stored = (): void => this.#stored();
    const signal = this.#internal.signal;
    const names: LogStreamName[] = options.split ? ['stdout', 'stderr'] : ['combined'];
    const cursors: EventMarks['cursors'] = {};
    for (const name of names)
      cursors[name] = resume?.streams.find((s) => s.name === name)?.eventsCursor ?? null;
    this.#eventCursors = { ...cursors };
    this.#eventCount = resume?.eventCount ?? 0;
    this.#events = new PartWriter<EventMarks>(
      options.store,
      resume?.events ?? emptyUpload(options.keys.events),
      { cursors, count: this.#eventCount },
      partSize,
      signal,
      this.#delays,
      stored,
      'application/x-ndjson',
    );
    this.#streams = names.map((name) => {
      const prior = resume?.streams.find((s) => s.name === name);
      const state: StreamState = {
        name,
        source: name === 'stdout' ? 'Stdout' : name === 'stderr' ? 'Stderr' : null,
        log: new PartWriter<LogMark>(
          options.store,
          prior?.log ?? emptyUpload(options.keys[name]),
          { cursor: prior?.logCursor ?? null, lines: prior?.lines ?? 0 },
          partSize,
          signal,
          this.#delays,
          stored,
          'text/plain; charset=utf-8',
        ),
        grouper: new EventGrouper<LineCursor>(name, options.rules, (event, last) => {
          this.#events.buffer.append(`${JSON.stringify(event)}\n`);
          this.#eventCursors[name] = last;
          this.#eventCount++;
        }),
        logPos: prior?.logCursor ?? null,
        lines: prior?.lines ?? 0,
        eventPos: prior?.eventsCursor ?? null,
      };
      return state;
    });
  }

  /** The resume point as stored now. */
  checkpoint(): CaptureCheckpoint {
    return {
      version: 1,
      pod: this.#o.pod,
      split: this.#o.split,
      streams: this.#streams.map((s) => ({
        name: s.name,
        log: s.log.state,
        logCursor: s.log.durable.cursor,
        lines: s.log.durable.lines,
        eventsCursor: this.#events.durable.cursors[s.name] ?? null,
      })),
      events: this.#events.state,
      eventCount: this.#events.durable.count,
    };
  }

  #stored(): void {
    this.#o.onCheckpoint?.(this.checkpoint());
  }

  /**
   * Follows the streams until the container has ended (or the pod is gone, or `drain` asks to stop), then stores
   * everything and completes the files.
   *
   * @throws the abort reason when `abort` fires; storage errors that are not retryable.
   */
  async run(signals: CaptureSignals): Promise<CaptureResult> {
    const onAbort = (): void => this.#internal.abort(signals.abort.reason);
    signals.abort.addEventListener('abort', onAbort, { once: true });
    try {
      if (signals.abort.aborted) throw signals.abort.reason;
      await Promise.all(this.#streams.map((s) => this.#read(s, signals)));
      for (const s of this.#streams) s.grouper.flush();
      this.#events.mark({ cursors: { ...this.#eventCursors }, count: this.#eventCount });
      await Promise.all([...this.#streams.map((s) => s.log.finish()), this.#events.finish()]);
      const files: Record<LogStreamName, { key: string; bytes: number } | undefined> = {
        stdout: undefined,
        stderr: undefined,
        combined: undefined,
      };
      for (const s of this.#streams) files[s.name] = { key: s.log.state.key, bytes: s.log.state.bytes };
      return {
        split: this.#o.split,
        files,
        events: { key: this.#events.state.key, bytes: this.#events.state.bytes, count: this.#eventCount },
        lines: this.#streams.reduce((sum, s) => sum + s.lines, 0),
      };
    } finally {
      signals.abort.removeEventListener('abort', onAbort);
    }
  }

  async #read(s: StreamState, signals: CaptureSignals): Promise<void> {
    let delay = this.#delays.first;
    let drainDeadline: number | null = null;
    for (;;) {
      if (signals.abort.aborted) throw signals.abort.reason;
      const final = signals.drain.aborted;
      if (final) drainDeadline ??= Date.now() + (this.#o.drainTimeoutMs ?? 60_000);
      const connection = new AbortController();
      const stop = (): void => connection.abort();
      signals.abort.addEventListener('abort', stop, { once: true });
      if (!final) signals.drain.addEventListener('abort', stop, { once: true });
      const timer =
        drainDeadline !== null ? setTimeout(stop, Math.max(0, drainDeadline - Date.now())) : undefined;
      let ended = false;
      let splitter: LineSplitter | null = null;
      let lines: LineFeed | null = null;
      try {
        const since = earlier(s.logPos, s.eventPos);
        const body = await this.#o.source.open(s.source, since?.ts ?? null, !final, connection.signal);
        splitter = new LineSplitter();
        lines = new LineFeed(s);
        for await (const chunk of body) {
          await this.#feed(s, lines, splitter.push(chunk));
        }
        ended = true;
        delay = this.#delays.first;
      } catch (err) {
        if (signals.abort.aborted) throw signals.abort.reason;
        if (err instanceof LogGoneError) return;
        if (err instanceof StoreFailedError || err instanceof StorageError) throw err;
        if (final && drainDeadline !== null && Date.now() >= drainDeadline) return;
        if (!(signals.drain.aborted && !final)) {
          // A broken connection or a container not started yet: try again shortly from the last line read.
          await sleep(delay, undefined, { signal: signals.abort }).catch(() => undefined);
          delay = Math.min(delay * 2, this.#delays.max);
        }
        continue;
      } finally {
        clearTimeout(timer);
        signals.abort.removeEventListener('abort', stop);
        signals.drain.removeEventListener('abort', stop);
      }
      if (final) {
        const tail = splitter?.end();
        if (tail && lines) await this.#feed(s, lines, [tail]);
        return;
      }
      if (ended) {
        const state = await this.#o.source.state(signals.abort).catch(() => 'unknown' as const);
        if (state === 'ended' || state === 'gone') {
          // The log is complete: a last line without a newline is a line too.
          const tail = splitter?.end();
          if (tail && lines) await this.#feed(s, lines, [tail]);
          return;
        }
        if (signals.drain.aborted) continue;
        await sleep(delay, undefined, { signal: signals.abort }).catch(() => undefined);
        delay = Math.min(delay * 2, this.#delays.max);
      }
    }
  }

  async #feed(s: StreamState, feed: LineFeed, lines: StampedLine[]): Promise<void> {
    if (lines.length === 0) return;
    const buffer = s.log.buffer;
    for (const line of lines) {
      const at = feed.next(line.ts);
      if (feed.logPassing || (feed.logPassing = isAfter(at, s.logPos))) {
        buffer.append(line.text);
        if (line.newline) buffer.appendByte(0x0a);
        s.logPos = at;
        s.lines++;
      }
      if (feed.eventsPassing || (feed.eventsPassing = isAfter(at, s.eventPos))) {
        s.grouper.push(line.ts, line.text.toString('utf8'), at);
        s.eventPos = at;
      }
    }
    s.log.mark({ cursor: s.logPos, lines: s.lines });
    this.#events.mark({ cursors: { ...this.#eventCursors }, count: this.#eventCount });
    await Promise.all([s.log.cut(), this.#events.cut()]);
  }
}

/** Cursor bookkeeping of one read of one stream: where each line is, and whether re-read lines are behind us. */
class LineFeed {
  #at: LineCursor | null = null;
  logPassing: boolean;
  eventsPassing: boolean;
  constructor(s: StreamState) {
    this.logPassing = s.logPos === null;
    this.eventsPassing = s.eventPos === null;
  }
  next(ts: string): LineCursor {
    this.#at = advance(this.#at, ts);
    return this.#at;
  }
}
