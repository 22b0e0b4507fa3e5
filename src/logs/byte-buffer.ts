/** A growable byte buffer that copies what it is given (so that source chunks are not retained). */
export class ByteBuffer {
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
