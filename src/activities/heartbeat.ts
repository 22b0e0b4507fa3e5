/** The heartbeat loop of a long activity: once now, then every `everyMs`, with whatever `details` returns then. */
import type { Context } from '@temporalio/activity';

/**
 * Starts heartbeating `details()` (a small resume point) and returns the function that stops it; call that in a
 * `finally`.
 */
export function startHeartbeat(
  ctx: Pick<Context, 'heartbeat'>,
  details: () => unknown,
  everyMs: number,
): () => void {
  ctx.heartbeat(details());
  const timer = setInterval(() => ctx.heartbeat(details()), everyMs);
  return () => clearInterval(timer);
}
