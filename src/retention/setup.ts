/**
 * What every worker that serves workflows sets up for retention when it starts, whatever its task queue: the sweep's
 * Temporal Schedule for its queue and the bucket's lifecycle backstops. Both are idempotent — a second worker finds
 * the schedule and leaves it, and the lifecycle rules it writes are the same — so any number of workers may start at
 * once. A failure is reported, never fatal: the worker serves evaluations without them and the next start retries.
 */
import type { Client } from '@temporalio/client';
import type { S3StoreConfig } from '../storage/config.js';
import { retentionScheduleId } from './keys.js';
import { applyLifecycleRules } from './lifecycle.js';
import { ensureRetentionSchedule } from './schedule.js';

export interface RetentionSetupOptions {
  readonly taskQueue: string;
  readonly sweepEveryMinutes: number;
}

export interface RetentionSetupDeps {
  readonly client: Client;
  readonly s3: S3StoreConfig;
}

/** What {@link setUpRetention} did; `error` fields hold the message of a step that failed. */
export interface RetentionSetupReport {
  readonly schedule: { readonly id: string } & (
    { readonly status: 'created' | 'exists' } | { readonly status: 'failed'; readonly error: string }
  );
  readonly lifecycle:
    { readonly status: 'applied' | 'unsupported' } | { readonly status: 'failed'; readonly error: string };
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Ensures the schedule of `options.taskQueue` and the bucket's lifecycle rules; never throws. */
export async function setUpRetention(
  options: RetentionSetupOptions,
  deps: RetentionSetupDeps,
): Promise<RetentionSetupReport> {
  const id = retentionScheduleId(options.taskQueue);
  const [schedule, lifecycle] = await Promise.all([
    ensureRetentionSchedule(deps.client, {
      taskQueue: options.taskQueue,
      scheduleId: id,
      everyMinutes: options.sweepEveryMinutes,
    }).then(
      (created) => ({ id, status: created ? ('created' as const) : ('exists' as const) }),
      (err: unknown) => ({ id, status: 'failed' as const, error: messageOf(err) }),
    ),
    applyLifecycleRules(deps.s3).then(
      (status) => ({ status }),
      (err: unknown) => ({ status: 'failed' as const, error: messageOf(err) }),
    ),
  ]);
  return { schedule, lifecycle };
}
