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
 * Splits a byte stream of timestamped log lines into lines, whatever the chunking. Memory: the incomplete tail only.
 */
export class LineSplitter {
  #tail: Buffer | null = null;

  /** The complete lines in `chunk` (with what was left over from earlier chunks). */
  push(chunk: Buffer): StampedLine[] {
    const data = this.#tail === null ? chunk : Buffer.concat([this.#tail, chunk]);
    const out: StampedLine[] = [];
    let start = 0;
    for (;;) {
      const end = data.indexOf(newline, start);
      if (end < 0) break;
      out.push(parseLine(data.subarray(start, end), true));
      start = end + 1;
    }
    this.#tail = start < data.length ? Buffer.from(data.subarray(start)) : null;
    return out;
  }

  /** The last line when the stream ended without a newline, or null. */
  end(): StampedLine | null {
    const tail = this.#tail;
    this.#tail = null;
    return tail === null || tail.length === 0 ? null : parseLine(tail, false);
  }
}

/** Splits `<timestamp> <text>`; a line without a timestamp keeps an empty one. */
export function parseLine(bytes: Buffer, hasNewline: boolean): StampedLine {
  const gap = bytes.indexOf(space);
  const head = gap < 0 ? bytes : bytes.subarray(0, gap);
  // Cheap shape check: `YYYY-MM-DDT…Z`.
  if (head.length >= 20 && head[4] === 0x2d && head[10] === 0x54 && head[head.length - 1] === 0x5a) {
    return {
      ts: head.toString('latin1'),
      text: gap < 0 ? Buffer.alloc(0) : bytes.subarray(gap + 1),
      newline: hasNewline,
    };
  }
  return { ts: '', text: bytes, newline: hasNewline };
}
