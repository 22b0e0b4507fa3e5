/**
 * One file of a log capture written as a multipart upload, part by part, with bounded memory: the part being filled
 * and at most one part uploading.
 */
import { MultipartUploadNotFoundError } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import { ByteBuffer } from './byte-buffer.js';
import type { UploadState } from './checkpoint.js';
import { StoreFailedError, retrying, type RetryDelays } from './store-retry.js';

export interface PartWriterOptions<M> {
  readonly store: ObjectStore;
  /** The upload as far as it is stored (a fresh one, or one from a checkpoint); copied, never changed in place. */
  readonly upload: UploadState;
  /** What the stored bytes cover. */
  readonly mark: M;
  /** Bytes per part (S3: at least 5 MiB except the last). */
  readonly partSize: number;
  /** Stops every store call (the capture's own abort). */
  readonly signal: AbortSignal;
  readonly delays: RetryDelays;
  /** Called after every stored part and after completion. */
  readonly onStored: () => void;
  readonly contentType: string;
  /** Told the size of every part (or whole object) stored, for metrics. */
  readonly onStoredBytes?: (bytes: number) => void;
}

/**
 * Writes one object part by part: at most one part uploading while the next fills. `M` marks what the bytes so far
 * cover (a log cursor), so that the checkpoint says exactly what is stored.
 */
export class PartWriter<M> {
  readonly state: UploadState;
  /** What the stored parts cover. */
  durable: M;
  #pending: M;
  #buffer: ByteBuffer;
  #inflight: Promise<void> | null = null;
  /** The last stored part's buffer, filled again by the part after next: two buffers per file, however long. */
  #spare: Buffer | undefined;
  readonly #o: PartWriterOptions<M>;

  constructor(options: PartWriterOptions<M>) {
    this.#o = options;
    this.state = { ...options.upload, parts: [...options.upload.parts] };
    this.durable = options.mark;
    this.#pending = options.mark;
    this.#buffer = new ByteBuffer(this.#capacity());
  }

  /** The upload as stored now, as a copy. */
  snapshot(): UploadState {
    return { ...this.state, parts: [...this.state.parts] };
  }

  get buffer(): ByteBuffer {
    return this.#buffer;
  }

  /** Resolves once no part is uploading (whether it was stored or not). */
  async settled(): Promise<void> {
    // At most one part uploads at a time; a failed one stays as #inflight, so wait for it once.
    await this.#inflight?.catch(() => undefined);
  }

  /** Says what the buffered bytes cover. */
  mark(mark: M): void {
    this.#pending = mark;
  }

  #capacity(): number {
    return Math.ceil(this.#o.partSize * 1.1);
  }

  /** Sends a full part (or, with `force`, whatever is buffered); waits while the previous part is still uploading. */
  async cut(force = false): Promise<void> {
    while (this.#inflight !== null) await this.#inflight;
    const size = this.#buffer.length;
    if (size === 0 || (!force && size < this.#o.partSize)) return;
    const body = this.#buffer.take(this.#capacity(), this.#spare);
    this.#spare = undefined;
    const mark = this.#pending;
    const upload = this.#upload(body, mark).then(
      () => {
        this.#inflight = null;
        // Stored: nothing reads the body any more (a failed part keeps its buffer out of reuse).
        this.#spare = Buffer.from(body.buffer, body.byteOffset, body.buffer.byteLength - body.byteOffset);
      },
      (err: unknown) => {
        throw this.#o.signal.aborted ? err : new StoreFailedError(err);
      },
    );
    // Awaited by the next cut or by finish; never left unhandled.
    upload.catch(() => undefined);
    this.#inflight = upload;
  }

  async #upload(body: Buffer, mark: M): Promise<void> {
    const { store, signal, delays, contentType } = this.#o;
    const { key } = this.state;
    this.state.uploadId ??= (
      await retrying(() => store.createMultipart(key, { contentType, signal }), signal, delays)
    ).uploadId;
    const uploadId = this.state.uploadId;
    const partNumber = this.state.parts.length + 1;
    const part = await retrying(
      () => store.uploadPart(key, uploadId, partNumber, body, { signal }),
      signal,
      delays,
    );
    this.state.parts.push({ partNumber, etag: part.etag, size: part.size });
    this.state.bytes += body.length;
    this.#o.onStoredBytes?.(body.length);
    this.durable = mark;
    this.#o.onStored();
  }

  /**
   * Stores the rest and completes the object (an empty object when nothing was written). Idempotent.
   *
   * @throws {StoreFailedError} when the store refuses for good.
   */
  async finish(): Promise<void> {
    await this.#drain();
    if (!this.state.completed && this.state.uploadId === null) {
      // Nothing uploaded yet, so everything is in the buffer (at most one part): one PUT instead of a multipart
      // upload's create, part and complete. A retry from the checkpoint puts the same bytes again.
      await this.#putWhole();
      return;
    }
    await this.cut(true);
    while (this.#inflight !== null) await this.#inflight;
    if (this.state.completed) return;
    try {
      await this.#complete();
    } catch (err) {
      throw this.#o.signal.aborted ? err : new StoreFailedError(err);
    }
    this.state.completed = true;
    this.durable = this.#pending;
    this.#o.onStored();
  }

  /** Waits for the part uploading, if any (its failure is thrown). */
  async #drain(): Promise<void> {
    while (this.#inflight !== null) await this.#inflight;
  }

  async #putWhole(): Promise<void> {
    const { store, signal, delays, contentType } = this.#o;
    const body = this.#buffer.take(this.#capacity());
    try {
      await retrying(() => store.put(this.state.key, body, { contentType, signal }), signal, delays);
    } catch (err) {
      throw signal.aborted ? err : new StoreFailedError(err);
    }
    this.state.bytes += body.length;
    this.#o.onStoredBytes?.(body.length);
    this.state.completed = true;
    this.durable = this.#pending;
    this.#o.onStored();
  }

  async #complete(): Promise<void> {
    const { store, signal, delays, contentType } = this.#o;
    const { key, uploadId } = this.state;
    if (uploadId === null) {
      await retrying(() => store.put(key, '', { contentType, signal }), signal, delays);
    } else {
      try {
        await retrying(
          () => store.completeMultipart(key, uploadId, this.state.parts, { signal }),
          signal,
          delays,
        );
      } catch (err) {
        // Completed by an earlier run that stopped before it could say so.
        if (!(err instanceof MultipartUploadNotFoundError) || !(await store.exists(key))) throw err;
      }
    }
  }
}
