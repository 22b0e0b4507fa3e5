/**
 * The retention index (the object storage layout of docs/architecture.md): one empty object per evaluation under
 * `retention/<yyyy-mm-dd>/<evaluationId>`, the day its `retentionUntil` falls on. Keys sort by day, so the sweep reads
 * only the days that have passed instead of listing every object of every evaluation. Pure: no I/O.
 */

/** Prefix of the retention index. */
export const retentionIndexPrefix = 'retention/';

/** The index key of an evaluation expiring at `retentionUntil` (ISO timestamp). */
export function retentionIndexKey(retentionUntil: string, evaluationId: string): string {
  return `${retentionIndexPrefix}${new Date(retentionUntil).toISOString().slice(0, 10)}/${evaluationId}`;
}

/** The day and evaluation id of an index key, or null for anything else. */
export function parseRetentionIndexKey(key: string): { day: string; evaluationId: string } | null {
  const match = /^retention\/(\d{4}-\d{2}-\d{2})\/([a-z0-9][-a-z0-9]*)$/.exec(key);
  return match === null ? null : { day: match[1]!, evaluationId: match[2]! };
}

/** Name of the sweep workflow type. */
export const retentionSweepWorkflowType = 'retentionSweep';

/**
 * Id of the Temporal Schedule that sweeps for the workers of `taskQueue`: one per queue, so each deployment (and each
 * test's queue) has its own, created by its workers; `assay-retention-sweep` for the production queue `assay`.
 */
export function retentionScheduleId(taskQueue: string): string {
  return `${taskQueue}-retention-sweep`;
}
