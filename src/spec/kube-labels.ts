/**
 * The labels, annotations and finalizer Assay sets on the Jobs and Pods it creates: how a Job is recognised as ours,
 * how a pod is found by evaluation and attempt, and what keeps a pod until its logs are captured.
 */

/** Labels Assay sets on its Jobs and Pods. */
export const labelKeys = {
  evaluationId: 'assay.dev/evaluation-id',
  attempt: 'assay.dev/attempt',
  team: 'assay.dev/team',
  user: 'assay.dev/user',
  priority: 'assay.dev/priority',
  /** From the spec's `cost-center` label, so OpenCost/Kubecost group by it like Assay's reports (docs/cost.md). */
  costCenter: 'assay.dev/cost-center',
  managedBy: 'app.kubernetes.io/managed-by',
} as const;
/** Annotations Assay sets on its Jobs and Pods. */
export const annotationKeys = {
  workflowId: 'assay.dev/workflow-id',
  runId: 'assay.dev/run-id',
  image: 'assay.dev/image',
  /** The GPU type the spec asked for, which the cost is priced by. */
  gpuType: 'assay.dev/gpu-type',
} as const;
/** The pod finalizer that keeps a pod (and its logs) until the workflow has captured everything. */
export const captureFinalizer = 'assay.dev/capture';
/** Value of `app.kubernetes.io/managed-by` on everything Assay creates. */
export const managedByValue = 'assay';
