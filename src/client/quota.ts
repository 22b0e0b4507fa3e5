/**
 * Reading the team quota workflows (docs/quota.md): what `assay quota` shows, and the live queue position of a queued
 * evaluation (its own status query knows only the position it was given when it joined the queue).
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import {
  quotaQueryName,
  quotaSnapshotSchema,
  quotaWorkflowId,
  quotaWorkflowType,
  type QuotaSnapshot,
} from '../spec/quota.js';
import type { EvaluationStatus } from '../spec/record.js';

/** The snapshot of `team`'s quota workflow; null when the team has none running (never limited, or not yet used). */
export async function quotaSnapshot(temporal: Client, team: string): Promise<QuotaSnapshot | null> {
  try {
    const raw: unknown = await temporal.workflow.getHandle(quotaWorkflowId(team)).query(quotaQueryName);
    return quotaSnapshotSchema.parse(raw);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

/** The snapshots of every running team quota workflow, by team name. */
export async function quotaSnapshots(temporal: Client): Promise<QuotaSnapshot[]> {
  const teams: string[] = [];
  for await (const info of temporal.workflow.list({
    query: `WorkflowType = '${quotaWorkflowType}' AND ExecutionStatus = 'Running'`,
  })) {
    if (info.workflowId.startsWith('quota-')) teams.push(info.workflowId.slice('quota-'.length));
  }
  const snapshots = await Promise.all([...new Set(teams)].sort().map((t) => quotaSnapshot(temporal, t)));
  return snapshots.filter((s): s is QuotaSnapshot => s !== null);
}

/** A queued evaluation's status with its position and reason as its quota workflow says now. */
export async function withLiveQueuePosition(
  temporal: Client,
  status: EvaluationStatus,
): Promise<EvaluationStatus> {
  if (status.phase !== 'Queued' || status.queue == null) return status;
  try {
    const raw: unknown = await temporal.workflow.getHandle(status.queue.workflowId).query(quotaQueryName);
    const snapshot = quotaSnapshotSchema.parse(raw);
    const entry = snapshot.queue.find((e) => e.evaluationId === status.evaluationId);
    if (entry === undefined) return status;
    return {
      ...status,
      queuePosition: entry.position,
      queue: { ...status.queue, position: entry.position, waitingFor: entry.waitingFor },
    };
  } catch {
    // The position the evaluation was given is still a fair answer.
    return status;
  }
}
