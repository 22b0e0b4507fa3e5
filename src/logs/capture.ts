/**
 * The log capture engine (README.md, "Logs"), free of Temporal and Kubernetes: it follows one or two log streams from
 * a {@link LogSource}, writes the raw lines and the grouped events to object storage as they arrive through multipart
 * uploads, and exposes a small {@link CaptureCheckpoint} after every stored part. Started again from a checkpoint it
 * continues the same uploads from the last stored line: none lost, none repeated.
 *
 * Memory is bounded: per file, the part being filled and the part being uploaded. While a part cannot be stored (the
 * store is down), reading pauses, which pushes back on the log stream; a stream that breaks meanwhile is re-read from
 * the last line read.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { emptyUpload, type CaptureCheckpoint } from './checkpoint.js';
import { EventGrouper, serializeEvent, type LogStreamName, type MultilineRules } from './events.js';
import { LineFeed } from './line-feed.js';
import { LineSplitter, timestampKey, type LineCursor, type LineVisitor } from './lines.js';
import { PartWriter } from './part-writer.js';
import { LogGoneError, type LogSource, type SourceStream } from './source.js';
import { StoreFailedError, type RetryDelays } from './store-retry.js';

/** A file a capture writes: a log (one per stream) or the grouped events. */
export type CapturedFile = LogStreamName | 'events';

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
  /**
   * How long the final read after a drain may wait for the API server's first answer (default 10 s): an API server
   * that is gone (a lost cluster) accepts no answer at all, and what was read before is stored without it.
   */
  readonly drainAnswerTimeoutMs?: number;
  /** The clock that stamps a line the kubelet did not (tests pass their own). */
  readonly now?: () => Date;
  /** Told the bytes of every part (or whole file) stored, by file: for metrics. */
  readonly onStoredBytes?: (file: CapturedFile, bytes: number) => void;
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

/** The fixed bytes of a one-line event in `events.ndjson` (see `serializeEvent`), around its time and its text. */
const plainEventHeads: Record<LogStreamName, Buffer> = {
  stdout: Buffer.from('{"stream":"stdout","time":'),
  stderr: Buffer.from('{"stream":"stderr","time":'),
  combined: Buffer.from('{"stream":"combined","time":'),
};
const plainEventMiddle = Buffer.from(',"lines":1,"kind":"line","text":"');
const plainEventTail = Buffer.from('"}\n');
/** A timestamp JSON writes as it is, between quotes. */
const plainStamp = /^[0-9A-Za-z:.+-]+$/;

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
  readonly #delays: RetryDelays;

  constructor(options: CaptureOptions) {
    this.#o = options;
    const resume = options.resume;
    const partSize = options.partSizeBytes ?? defaultPartSizeBytes;
    this.#delays = { first: options.retryDelayMs ?? 250, max: options.maxRetryDelayMs ?? 5000 };
    const stored = (): void => this.#onStored();
    const signal = this.#internal.signal;
    const names: LogStreamName[] = options.split ? ['stdout', 'stderr'] : ['combined'];
    const cursors: EventMarks['cursors'] = {};
    for (const name of names)
      cursors[name] = resume?.streams.find((s) => s.name === name)?.eventsCursor ?? null;
    this.#eventCursors = { ...cursors };
    this.#eventCount = resume?.eventCount ?? 0;
    this.#events = new PartWriter<EventMarks>({
      store: options.store,
      upload: resume?.events ?? emptyUpload(options.keys.events),
      mark: { cursors, count: this.#eventCount },
      partSize,
      signal,
      delays: this.#delays,
      onStored: stored,
      contentType: 'application/x-ndjson',
      ...this.#storedBytes('events'),
    });
    this.#streams = names.map((name) => {
      const prior = resume?.streams.find((s) => s.name === name);
      const state: StreamState = {
        name,
        source: name === 'stdout' ? 'Stdout' : name === 'stderr' ? 'Stderr' : null,
        log: new PartWriter<LogMark>({
          store: options.store,
          upload: prior?.log ?? emptyUpload(options.keys[name]),
          mark: { cursor: prior?.logCursor ?? null, lines: prior?.lines ?? 0 },
          partSize,
          signal,
          delays: this.#delays,
          onStored: stored,
          contentType: 'text/plain; charset=utf-8',
          ...this.#storedBytes(name),
        }),
        grouper: new EventGrouper<LineCursor>(
          name,
          options.rules,
          (event, last) => {
            this.#events.buffer.append(serializeEvent(event));
            this.#events.buffer.appendByte(0x0a);
            this.#eventCursors[name] = last;
            this.#eventCount++;
          },
          (time, data, start, end, last) => {
            // serializeEvent's bytes for a one-line event, written without decoding the line (it needs no escaping).
            const buffer = this.#events.buffer;
            buffer.append(plainEventHeads[name]);
            if (plainStamp.test(time)) {
              buffer.appendByte(0x22);
              buffer.appendAscii(time);
              buffer.appendByte(0x22);
            } else buffer.append(JSON.stringify(time));
            buffer.append(plainEventMiddle);
            buffer.appendRange(data, start, end);
            buffer.append(plainEventTail);
            this.#eventCursors[name] = last;
            this.#eventCount++;
          },
        ),
        logPos: prior?.logCursor ?? null,
        lines: prior?.lines ?? 0,
        eventPos: prior?.eventsCursor ?? null,
      };
      return state;
    });
  }

  /** The resume point as stored now: a copy, which later progress does not change. */
  checkpoint(): CaptureCheckpoint {
    return {
      version: 1,
      pod: this.#o.pod,
      split: this.#o.split,
      streams: this.#streams.map((s) => ({
        name: s.name,
        log: s.log.snapshot(),
        logCursor: s.log.durable.cursor,
        lines: s.log.durable.lines,
        eventsCursor: this.#events.durable.cursors[s.name] ?? null,
      })),
      events: this.#events.snapshot(),
      eventCount: this.#events.durable.count,
    };
  }

  /** The part writer's `onStoredBytes` for `file`, when the capture has one. */
  #storedBytes(file: CapturedFile): { onStoredBytes?: (bytes: number) => void } {
    const report = this.#o.onStoredBytes;
    return report === undefined ? {} : { onStoredBytes: (bytes) => report(file, bytes) };
  }

  #onStored(): void {
    this.#o.onCheckpoint?.(this.checkpoint());
  }

  #now(): Date {
    return this.#o.now?.() ?? new Date();
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
      // A failure of one stream stops the others (and their store calls) before run() settles: nothing of this run
      // may write after its caller has moved on — a retry would race it for the same uploads.
      const reading = {
        abort: AbortSignal.any([signals.abort, this.#internal.signal]),
        drain: signals.drain,
      };
      await this.#all(this.#streams.map((s) => this.#read(s, reading)));
      for (const s of this.#streams) s.grouper.flush();
      this.#events.mark({ cursors: { ...this.#eventCursors }, count: this.#eventCount });
      await this.#all([...this.#streams.map((s) => s.log.finish()), this.#events.finish()]);
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

  /** Like `Promise.all`, but on the first failure stops the rest and waits for them to settle before rejecting. */
  async #all(tasks: Promise<void>[]): Promise<void> {
    try {
      await Promise.all(tasks);
    } catch (err) {
      this.#internal.abort(err);
      await Promise.allSettled(tasks);
      await Promise.all([...this.#streams.map((s) => s.log.settled()), this.#events.settled()]);
      throw err;
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
      let unanswered = false;
      const answerTimer = final
        ? setTimeout(() => {
            unanswered = true;
            stop();
          }, this.#o.drainAnswerTimeoutMs ?? 10_000)
        : undefined;
      let ended = false;
      let splitter: LineSplitter | null = null;
      let visit: LineVisitor | null = null;
      try {
        const since = earlier(s.logPos, s.eventPos);
        const body = await this.#o.source.open(s.source, since?.ts ?? null, !final, connection.signal);
        clearTimeout(answerTimer);
        splitter = new LineSplitter();
        visit = this.#visitor(s, new LineFeed(s.logPos, s.eventPos));
        for await (const chunk of body) {
          if (splitter.each(chunk, visit) > 0) await this.#stored(s);
        }
        ended = true;
        delay = this.#delays.first;
      } catch (err) {
        if (signals.abort.aborted) throw signals.abort.reason;
        if (err instanceof LogGoneError) return;
        if (err instanceof StoreFailedError || err instanceof StorageError) throw err;
        if (final && ((drainDeadline !== null && Date.now() >= drainDeadline) || unanswered)) return;
        if (!(signals.drain.aborted && !final)) {
          // A broken connection or a container not started yet: try again shortly from the last line read.
          await sleep(delay, undefined, { signal: signals.abort }).catch(() => undefined);
          delay = Math.min(delay * 2, this.#delays.max);
        }
        continue;
      } finally {
        clearTimeout(timer);
        clearTimeout(answerTimer);
        signals.abort.removeEventListener('abort', stop);
        signals.drain.removeEventListener('abort', stop);
      }
      if (final) {
        if (visit && splitter?.endEach(visit)) await this.#stored(s);
        return;
      }
      if (ended) {
        const state = await this.#o.source.state(signals.abort, s.source).catch(() => 'unknown' as const);
        if (state === 'ended' || state === 'gone') {
          // The log is complete: a last line without a newline is a line too.
          if (visit && splitter?.endEach(visit)) await this.#stored(s);
          return;
        }
        if (signals.drain.aborted) continue;
        await sleep(delay, undefined, { signal: signals.abort }).catch(() => undefined);
        delay = Math.min(delay * 2, this.#delays.max);
      }
    }
  }

  /**
   * What happens to each line of one read: appended to the log file's part and fed to the event grouper, unless the
   * file or the events already hold it (a re-read repeats lines). Synchronous and allocation-light: it runs per line.
   */
  #visitor(s: StreamState, feed: LineFeed): LineVisitor {
    const buffer = s.log.buffer;
    return (ts, data, textStart, end, newline) => {
      const at = feed.next(ts);
      if (feed.logPassing || (feed.logPassing = isAfter(at, s.logPos))) {
        buffer.appendRange(data, textStart, end);
        if (newline) buffer.appendByte(0x0a);
        s.logPos = at;
        s.lines++;
      }
      if (feed.eventsPassing || (feed.eventsPassing = isAfter(at, s.eventPos))) {
        // A line the kubelet did not stamp carries the time it was read.
        const time = ts === '' ? this.#now().toISOString() : ts;
        if (!s.grouper.pushPlain(time, data, textStart, end, at))
          s.grouper.push(time, data.toString('utf8', textStart, end), at);
        s.eventPos = at;
      }
    };
  }

  /** After lines were visited: says what the buffers cover and sends full parts. */
  async #stored(s: StreamState): Promise<void> {
    s.log.mark({ cursor: s.logPos, lines: s.lines });
    this.#events.mark({ cursors: { ...this.#eventCursors }, count: this.#eventCount });
    await Promise.all([s.log.cut(), this.#events.cut()]);
  }
}
