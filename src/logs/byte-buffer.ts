/**
 * A growable byte buffer that copies what it is given (so that source chunks are not retained). Its memory is never
 * from Node's shared pool, so a buffer handed out by {@link take} owns its whole ArrayBuffer and can be given back.
 */
export class ByteBuffer {
  #buf: Buffer;
  #len = 0;
  constructor(capacity: number) {
    this.#buf = Buffer.allocUnsafeSlow(capacity);
  }
  get length(): number {
    return this.#len;
  }
  append(bytes: Buffer | string): void {
    if (typeof bytes === 'string') {
      // At most 3 bytes per UTF-16 unit: when that fits, skip measuring the string first.
      if (this.#len + bytes.length * 3 > this.#buf.length) this.#grow(Buffer.byteLength(bytes));
      this.#len += this.#buf.write(bytes, this.#len);
      return;
    }
    this.appendRange(bytes, 0, bytes.length);
  }
  /** Appends a string known to hold only ASCII characters (no measuring, no encoder). */
  appendAscii(text: string): void {
    const n = text.length;
    if (this.#len + n > this.#buf.length) this.#grow(n);
    const buf = this.#buf;
    let at = this.#len;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.#len = at;
  }
  /** Appends `bytes[start, end)`. */
  appendRange(bytes: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.#len + n > this.#buf.length) this.#grow(n);
    if (n <= 64) {
      // Short lines: a loop costs less than the call into Buffer#copy.
      const buf = this.#buf;
      let at = this.#len;
      for (let i = start; i < end; i++) buf[at++] = bytes[i]!;
      this.#len = at;
    } else {
      this.#len += bytes.copy(this.#buf, this.#len, start, end);
    }
  }
  #grow(n: number): void {
    const next = Buffer.allocUnsafeSlow(Math.max(this.#buf.length * 2, this.#len + n));
    this.#buf.copy(next, 0, 0, this.#len);
    this.#buf = next;
  }
  appendByte(byte: number): void {
    if (this.#len + 1 > this.#buf.length) this.append(Buffer.of(byte));
    else this.#buf[this.#len++] = byte;
  }
  /**
   * The bytes so far; what follows goes into `next` (a buffer the caller is done with, reused so that memory stays
   * flat) or, when it is missing or smaller than `capacity`, into a fresh one.
   */
  take(capacity: number, next?: Buffer): Buffer {
    const out = this.#buf.subarray(0, this.#len);
    this.#buf = next !== undefined && next.length >= capacity ? next : Buffer.allocUnsafeSlow(capacity);
    this.#len = 0;
    return out;
  }
}
