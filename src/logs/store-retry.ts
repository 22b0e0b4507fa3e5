/** How the capture treats a failing store call: wait out a store that is away, stop on an answer that says never. */
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageError, StorageRequestError } from '../storage/errors.js';

/** Backoff of retried store calls and re-opened streams: the first pause, doubling up to `max`. */
export interface RetryDelays {
  readonly first: number;
  readonly max: number;
}

/**
 * Whether a store call may succeed if tried again. Only answers that say "never" stop the capture (missing bucket or
 * upload, denied access, an invalid key, an HTTP error answer); anything without an answer — a refused or reset
 * connection, however the SDK wraps it — is the store being away, and is waited out.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof StorageRequestError) return err.httpStatus === undefined || err.httpStatus >= 500;
  if (err instanceof StorageError) return err.retryable;
  return !(err instanceof Error && err.name === 'AbortError');
}

/**
 * Runs `fn` until it succeeds, backing off on retryable storage errors (the store may be down for a while).
 *
 * @throws the first error that is not retryable; the abort reason's error when `signal` fires.
 */
export async function retrying<T>(
  fn: () => Promise<T>,
  signal: AbortSignal,
  delays: RetryDelays,
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

/** A store call failed for good: the capture stops (the activity's retry resumes from the checkpoint). */
export class StoreFailedError extends Error {
  readonly code = 'LOG_STORE_FAILED';
  constructor(cause: unknown) {
    super(`storing the log failed: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'StoreFailedError';
  }
}
