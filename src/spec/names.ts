/**
 * The names Assay derives from an evaluation id: its workflow id, the Kubernetes Job of each attempt, the task queues
 * the work runs on, and the workflow type and query names. Deterministic, so a retried step finds what an earlier try
 * created under the same name.
 */
import { z } from 'zod';
import { specLimits } from './spec-constants.js';

/** Name of the evaluation workflow type. */
export const evaluationWorkflowType = 'evaluation';
/** Task queue of the evaluation workflows and of the activities that need no cluster credentials. */
export const workflowTaskQueue = 'assay';
/**
 * Task queue of the activities that act on cluster `name` (served by a worker holding its credentials):
 * `assay-cluster-<name>` for the default workflow queue. Tests run isolated queues with another base.
 */
export function clusterTaskQueue(name: string, workflowQueue: string = workflowTaskQueue): string {
  return `${workflowQueue}-cluster-${name}`;
}
/** Workflow id of evaluation `evaluationId`. */
export function evaluationWorkflowId(evaluationId: string): string {
  return `eval-${evaluationId}`;
}
/** Kubernetes Job name of attempt `attempt` of evaluation `evaluationId`. */
export function attemptJobName(evaluationId: string, attempt: number): string {
  return `assay-${evaluationId}-${attempt}`;
}

/** Name of the query that returns the evaluation's status (`EvaluationStatus`, `./record.ts`). */
export const statusQueryName = 'status';

/**
 * Evaluation ids become parts of Kubernetes names (`assay-<id>-<n>`, ≤ 63 characters) and of object keys: a DNS-1123
 * label of at most 54 characters, which leaves room for the prefix and an attempt number up to 10 (the same bound as
 * `metadata.name`).
 */
export const evaluationIdSchema = z
  .string()
  .min(1)
  .max(specLimits.nameLength)
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/,
    'must be lowercase letters, digits and "-", starting and ending alphanumeric',
  );
