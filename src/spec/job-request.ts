/**
 * What the workflow asks a cluster worker to run for one attempt: the parts of the normalised EvaluationJob that
 * shape the Kubernetes Job, plus the identity of the attempt. Plain data, so it travels through Temporal history.
 */
import { z } from 'zod';
import { priorities } from './spec-constants.js';
import { evaluationIdSchema } from './names.js';

export const jobEnvVarSchema = z.union([
  z.object({ name: z.string().min(1), value: z.string() }),
  z.object({
    name: z.string().min(1),
    secretRef: z.object({ name: z.string().min(1), key: z.string().min(1) }),
  }),
]);
export type JobEnvVar = z.infer<typeof jobEnvVarSchema>;

const amountsSchema = z.object({ cpu: z.string(), memory: z.string(), ephemeralStorage: z.string() });

/** Kubernetes quantities, already normalised by the spec (e.g. `"500m"`, `"512Mi"`). */
export const jobResourcesSchema = z.object({
  requests: amountsSchema,
  limits: amountsSchema,
  gpu: z.object({ count: z.number().int().nonnegative(), type: z.string().nullable() }).nullable(),
});
export type JobResources = z.infer<typeof jobResourcesSchema>;

/** The result file and artifacts the evaluation declares: they give the pod the collector sidecar and its volumes. */
export const jobOutputsSchema = z.object({
  result: z.object({ path: z.string(), maxBytes: z.number().int().positive() }).nullable(),
  artifacts: z
    .object({
      paths: z.array(z.string()),
      maxBytes: z.number().int().positive(),
      maxFiles: z.number().int().positive(),
    })
    .nullable(),
});
export type JobOutputs = z.infer<typeof jobOutputsSchema>;

export const jobRequestSchema = z.object({
  evaluationId: evaluationIdSchema,
  attempt: z.number().int().positive(),
  namespace: z.string().min(1),
  workflowId: z.string(),
  runId: z.string(),
  team: z.string(),
  user: z.string(),
  priority: z.enum(priorities),
  image: z.string().min(1),
  command: z.array(z.string()),
  args: z.array(z.string()),
  env: z.array(jobEnvVarSchema),
  workingDir: z.string().nullable(),
  resources: jobResourcesSchema,
  timeoutSeconds: z.number().int().positive(),
  /** Extra labels for the Job and its pod (e.g. cost centers), validated as Kubernetes labels by the spec. */
  labels: z.record(z.string(), z.string()),
  runtimeClassName: z.string().nullable(),
  /** Absent or null: no result file and no artifacts declared, so no collector sidecar. */
  outputs: jobOutputsSchema.nullable().optional(),
});
export type JobRequest = z.infer<typeof jobRequestSchema>;
