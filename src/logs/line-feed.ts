/** Cursor bookkeeping of one read of one log stream. */
import { advance, type LineCursor } from './lines.js';

/**
 * Where each line of one read is, and whether the lines a re-read repeats are behind us yet (per destination: the
 * log file and the events may have stored up to different lines).
 */
export class LineFeed {
  #at: LineCursor | null = null;
  logPassing: boolean;
  eventsPassing: boolean;
  /** `logPos`/`eventPos`: the last line already in the log file / the events, null when none. */
  constructor(logPos: LineCursor | null, eventPos: LineCursor | null) {
    this.logPassing = logPos === null;
    this.eventsPassing = eventPos === null;
  }
  /**
   * The position of the next line, stamped `ts`. A line without a stamp ('') counts as one more line at the stamp
   * before it: the kubelet re-sends both together from that stamp, so a resumed read counts them the same way.
   */
  next(ts: string): LineCursor {
    this.#at = advance(this.#at, ts === '' && this.#at !== null ? this.#at.ts : ts);
    return this.#at;
  }
}
