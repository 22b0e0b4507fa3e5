/**
 * From a manifest to what the evaluation workflow needs: validation with field-level issues, then the plain plan the
 * workflow follows. Pure (zod only), so the workflow itself validates the manifest it was given.
 */
import type { z } from 'zod';
import { parseEvaluationJob } from './evaluation-job.js';
import type { EvaluationJob } from './evaluation-job-schema.js';
import type { Priority } from './spec-constants.js';
import type { SpecIssue } from './issues.js';
import type { JobEnvVar, JobOutputs, JobRequest, JobResources } from './job-request.js';

export interface EvaluationPlan {
  readonly name: string | null;
  readonly team: string;
  readonly user: string;
  readonly image: string;
  readonly priority: Priority;
  readonly command: string[];
  readonly args: string[];
  readonly env: JobEnvVar[];
  readonly workingDir: string | null;
  readonly resources: JobResources;
  readonly timeoutSeconds: number;
  readonly retries: { maxAttempts: number; backoffSeconds: number; transientExitCodes: number[] };
  readonly cluster: { name: string | null; selector: Record<string, string>; gpuType: string | null };
  /** Labels copied to the Job and its pod (`metadata.labels`, e.g. cost centers). */
  readonly labels: Record<string, string>;
  readonly retentionDays: number;
  /** Extra rules for grouping log lines into events (`spec.logs.multiline`). */
  readonly multiline: { continuation?: string[]; start?: string[] };
  /** The result file and artifacts the spec declares; null when it declares neither (no collector sidecar). */
  readonly outputs: JobOutputs | null;
  /** The normalised manifest, kept in the record. */
  readonly manifest: z.core.util.JSONType;
}

export type PlanResult = { ok: true; plan: EvaluationPlan } | { ok: false; issues: readonly SpecIssue[] };

/** The plan of a normalised manifest. */
export function planFromJob(job: EvaluationJob): EvaluationPlan {
  const s = job.spec;
  return {
    name: job.metadata.name ?? null,
    team: s.team,
    user: s.user,
    image: s.image,
    priority: s.priority,
    command: s.command ?? [],
    args: s.args ?? [],
    env: s.env,
    workingDir: s.workingDir ?? null,
    resources: {
      requests: {
        cpu: s.resources.cpu,
        memory: s.resources.memory,
        ephemeralStorage: s.resources.ephemeralStorage,
      },
      limits: { ...s.resources.limits },
      gpu:
        s.resources.gpu === undefined
          ? null
          : { count: s.resources.gpu.count, type: s.resources.gpu.type ?? null },
    },
    timeoutSeconds: s.timeoutSeconds,
    retries: { ...s.retries },
    cluster: {
      name: s.cluster.name ?? null,
      selector: s.cluster.selector ?? {},
      gpuType: s.cluster.gpuType ?? null,
    },
    labels: job.metadata.labels ?? {},
    retentionDays: s.retentionDays,
    multiline: { ...s.logs?.multiline },
    outputs:
      s.result === undefined && s.artifacts === undefined
        ? null
        : {
            result: s.result === undefined ? null : { path: s.result.path, maxBytes: s.result.maxBytes },
            artifacts:
              s.artifacts === undefined
                ? null
                : {
                    paths: [...s.artifacts.paths],
                    maxBytes: s.artifacts.maxBytes,
                    maxFiles: s.artifacts.maxFiles,
                  },
          },
    manifest: JSON.parse(JSON.stringify(job)) as z.core.util.JSONType,
  };
}

/** Validates a manifest and plans it; every problem is returned with its field path. Never throws. */
export function planEvaluation(manifest: unknown): PlanResult {
  const parsed = parseEvaluationJob(manifest);
  if (!parsed.ok) return { ok: false, issues: parsed.issues };
  return { ok: true, plan: planFromJob(parsed.value) };
}

/** Where and as what one attempt of a plan runs: the identity half of a {@link JobRequest}. */
export interface AttemptPlacement {
  readonly evaluationId: string;
  readonly attempt: number;
  readonly namespace: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly runtimeClassName: string | null;
}

/** The Job request for one attempt of `plan`: the plan's workload at `placement`. */
export function jobRequestFor(plan: EvaluationPlan, placement: AttemptPlacement): JobRequest {
  return {
    ...placement,
    team: plan.team,
    user: plan.user,
    priority: plan.priority,
    image: plan.image,
    command: plan.command,
    args: plan.args,
    env: plan.env,
    workingDir: plan.workingDir,
    resources: plan.resources,
    timeoutSeconds: plan.timeoutSeconds,
    labels: plan.labels,
    outputs: plan.outputs,
  };
}
