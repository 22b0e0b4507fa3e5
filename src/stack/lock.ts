import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import lockfile from 'proper-lockfile';
import { errorCode, StackTimeoutError } from './errors.js';

/** Options of {@link withFileLock}. */
export interface FileLockOptions {
  /** Called once when the lock is held by someone else and we start waiting (e.g. to print a progress line). */
  readonly onWait?: () => void;
  /** Give up after this long; default 30 minutes, because the holder may be building a large Go binary. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

/**
 * Runs `fn` while holding an exclusive, cross-process lock named by `lockPath` (the file need not exist).
 *
 * A holder refreshes the lock while it lives; the lock of a holder that was killed goes stale after 30 s and is
 * taken over, so a crashed `stack up` never blocks the next one for long.
 *
 * @throws {StackTimeoutError} when the lock is not acquired within `timeoutMs`.
 */
export async function withFileLock<T>(
  lockPath: string,
  fn: () => Promise<T>,
  options: FileLockOptions = {},
): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  await mkdir(dirname(lockPath), { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let waiting = false;
  let release: (() => Promise<void>) | undefined;
  while (release === undefined) {
    options.signal?.throwIfAborted();
    try {
      release = await lockfile.lock(lockPath, {
        realpath: false,
        stale: 30_000,
        retries: 0,
        // The default throws from a timer, which would crash the process; the work under the lock is idempotent,
        // so losing the lock (e.g. the machine was suspended) is worth a warning, not a crash.
        onCompromised: (err) =>
          process.stderr.write(`warning: lock ${lockPath} was compromised: ${err.message}\n`),
      });
    } catch (err) {
      if (!isLockedError(err)) throw err;
      if (Date.now() > deadline)
        throw new StackTimeoutError(`lock ${lockPath}`, timeoutMs, 'held by another process');
      if (!waiting) {
        waiting = true;
        options.onWait?.();
      }
      await sleep(500, undefined, options.signal ? { signal: options.signal } : undefined);
    }
  }
  try {
    return await fn();
  } finally {
    await release().catch(() => undefined);
  }
}

function isLockedError(err: unknown): boolean {
  return errorCode(err) === 'ELOCKED';
}
