/**
 * Groups log lines into events (README.md, "Logs"): a Python traceback — chained exceptions included — is one event,
 * an indented line joins the event before it, and a spec may add its own patterns. A traceback header (`Traceback …`,
 * `+ Exception Group Traceback …`) always starts a new event unless a chain message (`During handling of the above
 * exception…`, `The above exception was the direct cause…`) just announced it. Pure and deterministic: the same lines
 * give the same events, which is what lets a resumed capture regroup from the last stored event.
 */

/** Which stream an event came from; `combined` when the cluster could not split stdout from stderr. */
export type LogStreamName = 'stdout' | 'stderr' | 'combined';

/** Extra grouping rules of an evaluation (`spec.logs.multiline`), as regular-expression sources. */
export interface MultilineRules {
  /** A line matching one of these joins the event before it. */
  readonly continuation?: readonly string[];
  /**
   * When given, only a line matching one of these starts an event; every other line joins the event before it
   * (e.g. `^\d{4}-\d\d-\d\d` for logs whose records start with a date).
   */
  readonly start?: readonly string[];
}

/** One line of `events.ndjson`. */
export interface LogEvent {
  readonly stream: LogStreamName;
  /** Timestamp of the event's first line (RFC 3339, as the kubelet wrote it). */
  readonly time: string;
  /** Number of log lines in the event. */
  readonly lines: number;
  readonly kind: 'line' | 'multiline' | 'traceback';
  readonly text: string;
}

/**
 * One line of `events.ndjson` without its newline: the same bytes as `JSON.stringify(event)`, written by hand because
 * it runs once per event (for most logs, once per line).
 */
export function serializeEvent(e: LogEvent): string {
  return `{"stream":"${e.stream}","time":${JSON.stringify(e.time)},"lines":${e.lines},"kind":"${e.kind}","text":${JSON.stringify(e.text)}}`;
}

/** Bounds on one event, so that a runaway continuation cannot grow memory without limit. */
export const eventLimits = { maxLines: 2000, maxChars: 256 * 1024 } as const;

const tracebackStart = /^Traceback \(most recent call last\):\s*$/;
const exceptionGroupStart = /^\s*\+ Exception Group Traceback \(most recent call last\):\s*$/;
/**
 * The first line of a SyntaxError CPython reports without a traceback (the script itself does not compile):
 * `  File "<path>", line <n>` — unlike a frame, without `, in <function>`.
 */
const syntaxErrorStart = /^ {2}File ".*", line \d+\s*$/;
const chainMessages = [
  /^During handling of the above exception, another exception occurred:\s*$/,
  /^The above exception was the direct cause of the following exception:\s*$/,
];

function isIndented(text: string): boolean {
  const c = text.charCodeAt(0);
  return c === 0x20 || c === 0x09;
}

function compile(sources: readonly string[] | undefined): RegExp[] {
  return (sources ?? []).map((s) => new RegExp(s));
}

/**
 * Checks that every pattern compiles.
 *
 * @returns the first problem as `index: message`, or null.
 */
export function invalidPattern(sources: readonly string[]): string | null {
  for (const [i, s] of sources.entries()) {
    try {
      new RegExp(s);
    } catch (err) {
      return `${i}: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return null;
}

/**
 * True when a line needs neither the default grouping rules' attention nor JSON escaping, so that its event can be
 * written from its bytes: printable ASCII without `"` or `\\`, not starting with a space, a tab, `T` (a traceback
 * header) or `+` (an exception group). Most lines of most logs are such lines.
 */
export function isPlainLine(data: Uint8Array, start: number, end: number): boolean {
  if (end <= start) return false;
  const first = data[start]!;
  if (first <= 0x20 || first >= 0x7f || first === 0x54 || first === 0x2b) return false;
  for (let i = start; i < end; i++) {
    const b = data[i]!;
    if (b < 0x20 || b >= 0x7f || b === 0x22 || b === 0x5c) return false;
  }
  return true;
}

/**
 * Receives a one-line event whose text is a plain line (see {@link isPlainLine}) as bytes, `data[start, end)`, valid
 * only during the call; `time` is the line's timestamp.
 */
export type PlainLineEmitter<M> = (time: string, data: Buffer, start: number, end: number, last: M) => void;

/** One plain line held as bytes until the next line says whether anything joins it. */
interface HeldLine<M> {
  time: string;
  bytes: Buffer;
  length: number;
  mark: M;
}

type Phase =
  /** An ordinary event. */
  | 'plain'
  /** Inside a traceback's frames, until its exception line. */
  | 'frames'
  /** After a traceback's exception line: a chain message may follow after a blank line. */
  | 'raised'
  /** After "During handling…"/"The above exception…": blank lines, then the next "Traceback". */
  | 'chained';

interface Open<M> {
  time: string;
  lines: string[];
  chars: number;
  kind: LogEvent['kind'];
  phase: Phase;
  last: M;
}

/**
 * Feeds lines of one stream in order; completed events come out through `emit`, each with the mark of its last line
 * (callers use marks to know which lines are covered by stored events).
 */
export class EventGrouper<M> {
  readonly #stream: LogStreamName;
  readonly #continuation: RegExp[];
  readonly #start: RegExp[];
  readonly #emit: (event: LogEvent, last: M) => void;
  #open: Open<M> | null = null;
  /** Blank lines after an exception line, held until the next line says whether a chained exception follows. */
  #blanks: { time: string; mark: M }[] = [];
  readonly #emitPlain: PlainLineEmitter<M> | null;
  /** A plain line taken by {@link pushPlain}, not yet emitted; at most one, and only while nothing is open. */
  #held: HeldLine<M> | null = null;
  #holding = false;

  /**
   * @param emitPlain when given, {@link pushPlain} takes plain lines without decoding them and emits each one-line
   * event through it instead of `emit` (same order, same content).
   */
  constructor(
    stream: LogStreamName,
    rules: MultilineRules,
    emit: (event: LogEvent, last: M) => void,
    emitPlain?: PlainLineEmitter<M>,
  ) {
    this.#stream = stream;
    this.#continuation = compile(rules.continuation);
    this.#start = compile(rules.start);
    this.#emit = emit;
    // Only the default rules let a plain line be decided from its first byte.
    this.#emitPlain =
      this.#continuation.length === 0 && this.#start.length === 0 ? (emitPlain ?? null) : null;
  }

  /**
   * Pushes `data[start, end)` when it is a plain line ({@link isPlainLine}) that nothing open can absorb, without
   * decoding it; returns false, having done nothing, when the line must go through {@link push} instead.
   */
  pushPlain(time: string, data: Buffer, start: number, end: number, mark: M): boolean {
    if (this.#emitPlain === null || this.#blanks.length > 0) return false;
    // Inside a traceback's frames an unindented line is the exception line, which joins the event.
    if (this.#open !== null && this.#open.phase === 'frames') return false;
    if (!isPlainLine(data, start, end)) return false;
    // Whatever is open ends here: a plain line joins nothing under the default rules.
    this.#close();
    this.#emitHeld();
    const length = end - start;
    let held = this.#held;
    if (held === null || held.bytes.length < length) {
      held = { time, bytes: Buffer.allocUnsafe(Math.max(256, length * 2)), length: 0, mark };
      this.#held = held;
    }
    data.copy(held.bytes, 0, start, end);
    held.time = time;
    held.length = length;
    held.mark = mark;
    this.#holding = true;
    return true;
  }

  push(time: string, text: string, mark: M): void {
    if (this.#holding) {
      // The held line may be joined by this one: it becomes an ordinary open event.
      const held = this.#held!;
      this.#holding = false;
      this.#startEvent(held.time, held.bytes.toString('latin1', 0, held.length), held.mark);
    }
    const open = this.#open;
    if (open !== null && this.#blanks.length > 0) {
      // Only reached in phase `raised`: is this a chain message?
      if (open.phase === 'raised' && chainMessages.some((r) => r.test(text))) {
        for (const b of this.#blanks) this.#append(open, '', b.mark);
        this.#blanks = [];
        this.#append(open, text, mark);
        open.phase = 'chained';
        return;
      }
      this.#close();
      this.#flushBlanks();
      this.#startEvent(time, text, mark);
      return;
    }
    if (open !== null && this.#joins(open, text)) {
      if (open.lines.length >= eventLimits.maxLines || open.chars + text.length > eventLimits.maxChars) {
        this.#close();
        this.#startEvent(time, text, mark);
        return;
      }
      this.#append(open, text, mark);
      return;
    }
    if (open !== null && open.phase === 'raised' && text.trim() === '') {
      this.#blanks.push({ time, mark });
      return;
    }
    this.#close();
    this.#startEvent(time, text, mark);
  }

  /** Emits whatever is still open (end of the stream). */
  flush(): void {
    this.#emitHeld();
    this.#close();
    this.#flushBlanks();
  }

  #emitHeld(): void {
    if (!this.#holding) return;
    this.#holding = false;
    const held = this.#held!;
    this.#emitPlain!(held.time, held.bytes, 0, held.length, held.mark);
  }

  #joins(open: Open<M>, text: string): boolean {
    if (tracebackStart.test(text) || exceptionGroupStart.test(text)) {
      // A traceback header starts a new event unless a chain message announced it.
      if (open.phase !== 'chained') return false;
      open.phase = tracebackStart.test(text) ? 'frames' : 'raised';
      return true;
    }
    switch (open.phase) {
      case 'frames':
        if (!isIndented(text)) {
          // The first unindented line after the frames is the exception line; it ends the traceback.
          open.phase = 'raised';
        }
        return true;
      case 'raised':
        if (syntaxErrorStart.test(text)) return false;
        return isIndented(text) || this.#continues(text);
      case 'chained':
        return text.trim() === '';
      case 'plain':
        if (syntaxErrorStart.test(text)) return false;
        if (this.#start.length > 0 && !this.#start.some((r) => r.test(text))) return true;
        return isIndented(text) || this.#continues(text);
    }
  }

  #continues(text: string): boolean {
    return this.#continuation.some((r) => r.test(text));
  }

  #startEvent(time: string, text: string, mark: M): void {
    // An exception group's lines are all indented: it ends at the first unindented line, like a raised exception.
    // A bare SyntaxError report is one frame: its source and caret lines are indented, its exception line is not.
    const phase: Phase =
      tracebackStart.test(text) || syntaxErrorStart.test(text)
        ? 'frames'
        : exceptionGroupStart.test(text)
          ? 'raised'
          : 'plain';
    this.#open = {
      time,
      lines: [text],
      chars: text.length,
      kind: phase === 'plain' ? 'line' : 'traceback',
      phase,
      last: mark,
    };
  }

  #append(open: Open<M>, text: string, mark: M): void {
    open.lines.push(text);
    open.chars += text.length + 1;
    open.last = mark;
    if (open.kind === 'line') open.kind = 'multiline';
  }

  #close(): void {
    const open = this.#open;
    if (open === null) return;
    this.#open = null;
    this.#emit(
      {
        stream: this.#stream,
        time: open.time,
        lines: open.lines.length,
        kind: open.kind,
        text: open.lines.join('\n'),
      },
      open.last,
    );
  }

  #flushBlanks(): void {
    const blanks = this.#blanks;
    this.#blanks = [];
    for (const b of blanks) {
      this.#emit({ stream: this.#stream, time: b.time, lines: 1, kind: 'line', text: '' }, b.mark);
    }
  }
}
