/**
 * Lines of a container log as the API server returns them with `timestamps=true` (`<RFC3339Nano> <text>\n`), and the
 * cursor arithmetic that makes capture resumable: a position is the last timestamp stored and the count of lines
 * stored at that timestamp (the runtime stamps every line of one read with the same time, so a timestamp alone is not
 * a position). Pure: no I/O.
 */

/** A position in one log stream: the last timestamp, and how many lines carried it. */
export interface LineCursor {
  readonly ts: string;
  readonly n: number;
}

/** One line of a log: its timestamp as the kubelet wrote it and its bytes without the newline. */
export interface StampedLine {
  readonly ts: string;
  readonly text: Buffer;
  /** False for a last line the container ended without a newline. */
  readonly newline: boolean;
}

const fraction = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/;

/**
 * A key that orders RFC 3339 UTC timestamps as strings: Go's `RFC3339Nano` drops trailing zeros of the fraction, so
 * `…:00.1Z` and `…:00.10001Z` do not compare as written. Timestamps in another form are keyed by their milliseconds.
 */
export function timestampKey(ts: string): string {
  const m = fraction.exec(ts);
  if (m !== null) return `${m[1]}.${(m[2] ?? '').padEnd(9, '0')}`;
  const ms = Date.parse(ts);
  if (Number.isNaN(ms)) return ts;
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 19)}.${iso.slice(20, 23)}000000`;
}

/** The cursor after `line` when the cursor before it was `cursor`. */
export function advance(cursor: LineCursor | null, ts: string): LineCursor {
  return cursor !== null && cursor.ts === ts ? { ts, n: cursor.n + 1 } : { ts, n: 1 };
}

/**
 * Drops the lines a re-read from `sinceTime` repeats: everything up to and including `cursor`. The API server may
 * round `sinceTime` down, so lines before the cursor's timestamp are dropped too.
 */
export class ResumeFilter {
  readonly #key: string | null;
  readonly #n: number;
  #seenAtCursor = 0;
  #passing: boolean;

  constructor(cursor: LineCursor | null) {
    this.#key = cursor === null ? null : timestampKey(cursor.ts);
    this.#n = cursor?.n ?? 0;
    this.#passing = cursor === null;
  }

  /** True when the line is new (after the cursor). Lines must be fed in log order. */
  accept(ts: string): boolean {
    if (this.#passing) return true;
    const key = timestampKey(ts);
    if (key < this.#key!) return false;
    if (key === this.#key && this.#seenAtCursor < this.#n) {
      this.#seenAtCursor++;
      return false;
    }
    this.#passing = true;
    return true;
  }
}

const space = 0x20;
const newline = 0x0a;

/**
 * Called for each line: its timestamp ('' when it has none) and its text, `data[textStart, end)` without the newline.
 * `data` is only valid during the call (it may be the caller's chunk).
 */
export type LineVisitor = (
  ts: string,
  data: Buffer,
  textStart: number,
  end: number,
  newline: boolean,
) => void;

/**
 * Splits a byte stream of timestamped log lines into lines, whatever the chunking. Memory: the incomplete tail only.
 * {@link each} visits lines in place, without an object per line (the capture's hot path).
 */
export class LineSplitter {
  #tail: Buffer | null = null;

  /** Visits the complete lines in `chunk` (with what was left over from earlier chunks); returns how many. */
  each(chunk: Buffer, visit: LineVisitor): number {
    let start = 0;
    let count = 0;
    if (this.#tail !== null) {
      const first = chunk.indexOf(newline);
      if (first < 0) {
        this.#tail = Buffer.concat([this.#tail, chunk]);
        return 0;
      }
      const line = Buffer.concat([this.#tail, chunk.subarray(0, first)]);
      this.#tail = null;
      visitLine(line, 0, line.length, true, visit);
      count++;
      start = first + 1;
    }
    for (;;) {
      const end = chunk.indexOf(newline, start);
      if (end < 0) break;
      visitLine(chunk, start, end, true, visit);
      count++;
      start = end + 1;
    }
    // A copy, so that the chunk is not retained.
    if (start < chunk.length) this.#tail = Buffer.from(chunk.subarray(start));
    return count;
  }

  /** Visits the last line when the stream ended without a newline; returns whether there was one. */
  endEach(visit: LineVisitor): boolean {
    const tail = this.#tail;
    this.#tail = null;
    if (tail === null || tail.length === 0) return false;
    visitLine(tail, 0, tail.length, false, visit);
    return true;
  }

  /** The complete lines in `chunk` (with what was left over from earlier chunks). */
  push(chunk: Buffer): StampedLine[] {
    const out: StampedLine[] = [];
    this.each(chunk, (ts, data, a, b, nl) => out.push({ ts, text: data.subarray(a, b), newline: nl }));
    return out;
  }

  /** The last line when the stream ended without a newline, or null. */
  end(): StampedLine | null {
    let last: StampedLine | null = null;
    this.endEach((ts, data, a, b, nl) => (last = { ts, text: data.subarray(a, b), newline: nl }));
    return last;
  }
}

/** Longest timestamp the kubelet writes (`RFC3339Nano` with a zone offset), plus its space. */
const maxStampBytes = 40;

function visitLine(data: Buffer, start: number, end: number, hasNewline: boolean, visit: LineVisitor): void {
  let gap = data.indexOf(space, start);
  if (gap < 0 || gap > end) gap = end;
  const headEnd = gap;
  // Cheap shape check: `YYYY-MM-DDT…Z`.
  if (
    headEnd - start >= 20 &&
    headEnd - start <= maxStampBytes &&
    data[start + 4] === 0x2d &&
    data[start + 10] === 0x54 &&
    data[headEnd - 1] === 0x5a
  ) {
    visit(data.toString('latin1', start, headEnd), data, gap < end ? gap + 1 : end, end, hasNewline);
  } else {
    visit('', data, start, end, hasNewline);
  }
}

/** Splits `<timestamp> <text>`; a line without a timestamp keeps an empty one. */
export function parseLine(bytes: Buffer, hasNewline: boolean): StampedLine {
  let line: StampedLine | null = null;
  visitLine(bytes, 0, bytes.length, hasNewline, (ts, data, a, b, nl) => {
    line = { ts, text: data.subarray(a, b), newline: nl };
  });
  return line!;
}
