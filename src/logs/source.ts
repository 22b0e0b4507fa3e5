/** What the log capture reads from: a container's log stream, and whether the container still runs. */

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
  /**
   * Whether the container still runs; `gone` when the pod no longer exists. Asked after a followed `stream` ended;
   * `running` again makes the capture read once more from its last line.
   */
  state(signal: AbortSignal, stream?: SourceStream): Promise<'running' | 'ended' | 'waiting' | 'gone'>;
}

/** Thrown by a {@link LogSource} when the log no longer exists (the pod was removed). */
export class LogGoneError extends Error {
  readonly code = 'LOG_GONE';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LogGoneError';
  }
}
