/**
 * The Temporal Schedule that runs the janitor, one per workflow task queue (`<queue>-janitor`, so `assay-janitor` in
 * production), made like the retention sweep's: created once, an existing one left as is.
 */
import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';

export const janitorWorkflowType = 'janitor';

export function janitorScheduleId(taskQueue: string): string {
  return `${taskQueue}-janitor`;
}

export interface JanitorScheduleOptions {
  readonly taskQueue: string;
  readonly clusters: readonly string[];
  readonly everyMinutes?: number;
  readonly dryRun?: boolean;
}

/** Creates the janitor's schedule unless it exists. Returns true when it was created now. */
export async function ensureJanitorSchedule(
  client: Client,
  options: JanitorScheduleOptions,
): Promise<boolean> {
  const scheduleId = janitorScheduleId(options.taskQueue);
  try {
    await client.schedule.create({
      scheduleId,
      spec: { intervals: [{ every: `${options.everyMinutes ?? 10} minutes` }] },
      action: {
        type: 'startWorkflow',
        workflowType: janitorWorkflowType,
        workflowId: `${scheduleId}-run`,
        taskQueue: options.taskQueue,
        args: [{ clusters: [...options.clusters], dryRun: options.dryRun ?? false }],
      },
      policies: { overlap: 'SKIP' },
    });
    return true;
  } catch (err) {
    if (err instanceof ScheduleAlreadyRunning) return false;
    throw err;
  }
}
