/**
 * `retentionSweep`: run by the `assay-retention-sweep` Temporal Schedule; deletes the expired evaluations' objects in
 * batches until none is due.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { RetentionActivities } from '../activities/retention.js';

const { sweepExpiredEvaluations } = proxyActivities<RetentionActivities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes', maximumAttempts: 10 },
});

/** Batches per run at most: a backlog larger than this is finished by the next scheduled run. */
export const maxSweepBatches = 100;

export async function retentionSweep(
  input: { batchSize?: number } = {},
): Promise<{ evaluations: number; objects: number }> {
  let evaluations = 0;
  let objects = 0;
  for (let batch = 0; batch < maxSweepBatches; batch++) {
    const swept = await sweepExpiredEvaluations({ maxEvaluations: input.batchSize ?? 100 });
    evaluations += swept.evaluations.length;
    objects += swept.objects;
    if (!swept.more) break;
  }
  return { evaluations, objects };
}
