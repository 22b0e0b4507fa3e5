/**
 * The Temporal Schedule that runs the retention sweep. Created once (idempotent): an existing schedule is left as is.
 */
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { retentionScheduleId, retentionSweepWorkflowType } from './keys.js';

export interface RetentionScheduleOptions {
  readonly taskQueue: string;
  /** Default {@link retentionScheduleId} of the task queue. */
  readonly scheduleId?: string;
  readonly everyMinutes?: number;
}

/** Creates the sweep schedule unless it exists. Returns true when it was created now. */
export async function ensureRetentionSchedule(
  client: Client,
  options: RetentionScheduleOptions,
): Promise<boolean> {
  const scheduleId = options.scheduleId ?? retentionScheduleId(options.taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: `${options.everyMinutes ?? 60} minutes` }] },
      action: {
        type: 'startWorkflow',
        workflowType: retentionSweepWorkflowType,
        workflowId: `${scheduleId}-run`,
        taskQueue: options.taskQueue,
        args: [{}],
      },
      // One sweep at a time; a run still going when the next is due makes that one skip.
      policies: { overlap: 'SKIP' },
    });
    return true;
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return false;
    throw err;
  }
}
