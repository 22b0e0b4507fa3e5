/**
 * What the workflow asks a cluster worker to run for one attempt: the parts of the normalised EvaluationJob that
 * shape the Kubernetes Job, plus the identity of the attempt. Plain data, so it travels through Temporal history.
 */
import { traceCarrierSchema } from './trace-context.js';
import { z } from 'zod';
import { priorities } from './spec-constants.js';
import { evaluationIdSchema } from './names.js';
import { networkProtocols, seccompLevels } from './security-schema.js';

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

/** One resolved egress allowance of an attempt: the block, what of it stays refused, ports and protocol. */
export const jobEgressSchema = z.object({
  cidr: z.string(),
  except: z.array(z.string()),
  ports: z.array(z.number().int()),
  protocol: z.enum(networkProtocols),
});
export type JobEgress = z.infer<typeof jobEgressSchema>;

/**
 * The isolation of an attempt, resolved from the spec and its cluster's policy when the cluster was chosen
 * (`src/security/resolve.ts`); recorded with the choice, so what was applied is visible in the record.
 */
export const jobSecuritySchema = z.object({
  /** The runtime's name (`default`, `gvisor`, …) and the RuntimeClass it maps to (null: the node's default). */
  runtime: z.string(),
  runtimeClassName: z.string().nullable(),
  seccomp: z.enum(seccompLevels),
  /** The Localhost profile's path under the kubelet's seccomp directory when `seccomp` is `strict`. */
  seccompProfile: z.string().nullable(),
  /** The AppArmor profile applied, or null with the reason in `appArmorSkipped`. */
  appArmor: z.union([z.literal('RuntimeDefault'), z.object({ localhost: z.string() })]).nullable(),
  appArmorSkipped: z.string().nullable(),
  /** Everything the pod may reach (the user's allow-list and the cluster's operator destinations); empty: nothing. */
  egress: z.array(jobEgressSchema),
  /** Where DNS is allowed to; null: no DNS (an evaluation that may reach nothing needs none). */
  dns: z.object({ namespace: z.string(), podLabels: z.record(z.string(), z.string()) }).nullable(),
});
export type JobSecurity = z.infer<typeof jobSecuritySchema>;

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
  /** Absent in attempts planned before isolation existed: RuntimeDefault seccomp and no egress policy. */
  security: jobSecuritySchema.optional(),
  /** The trace context the main container continues (`TRACEPARENT`; docs/observability.md); absent: none. */
  trace: traceCarrierSchema.optional(),
});
export type JobRequest = z.infer<typeof jobRequestSchema>;
