import { setTimeout as sleep } from 'node:timers/promises';

/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** How long to keep asking before failing. */
  readonly timeoutMs: number;
  /** What is awaited, for the failure message ("the pod of … Running"). */
  readonly what: string;
  /** Pause between two asks; 250 ms unless given. */
  readonly intervalMs?: number;
}

/**
 * Waits for an observable condition instead of sleeping: asks `condition` until it returns a value other than
 * `undefined` (or `false`) and resolves with that value. An ask that throws counts as "not yet"; its error is kept
 * for the failure message.
 *
 * @throws {Error} naming `what`, the time waited and the last error once `timeoutMs` has passed.
 */
export async function waitFor<T>(
  condition: () => Promise<T | undefined | false> | T | undefined | false,
  options: WaitForOptions,
): Promise<T> {
  const { timeoutMs, what, intervalMs = 250 } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const cause =
        lastError === undefined
          ? ''
          : `: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`, { cause: lastError });
    }
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
}
