/**
 * From a normalised manifest to what the evaluation workflow needs. The client validates and normalises with zod
 * (`parseEvaluationJob`); the workflow only maps the normalised spec it was started with onto its plan and checks the
 * few fields it cannot work without (`planFromSpec`). Neither step runs zod inside the workflow: a stricter schema or
 * a new default therefore applies to new evaluations only and can never change the decisions of one that runs.
 */
import type { TraceCarrierValue } from './trace-context.js';
import { parseEvaluationJob } from './evaluation-job.js';
import type { EvaluationJob } from './evaluation-job-schema.js';
import type { Priority } from './spec-constants.js';
import type { SpecIssue } from './issues.js';
import type { JobEnvVar, JobOutputs, JobRequest, JobResources, JobSecurity } from './job-request.js';
import type { EgressRule, NetworkSpec, SeccompLevel } from './security-schema.js';

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
  /** `spec.network`: null for `none`, else the egress allow-list. */
  readonly egress: EgressRule[] | null;
  /** `spec.security`: null fields take the cluster's defaults. */
  readonly security: { seccomp: SeccompLevel | null; runtime: string | null };
}

export type PlanResult = { ok: true; plan: EvaluationPlan } | { ok: false; issues: readonly SpecIssue[] };

function egressOf(network: NetworkSpec | undefined): EgressRule[] | null {
  if (network === undefined || network === 'none') return null;
  return network.egress.map((rule) => ({ ...rule, ports: [...rule.ports] }));
}

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
    // Optional here: a workflow started before these fields existed plans its spec without them.
    egress: egressOf(s.network),
    security: { seccomp: s.security?.seccomp ?? null, runtime: s.security?.runtime ?? null },
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
  };
}

/** Validates a manifest and plans it (client side); every problem is returned with its field path. Never throws. */
export function planEvaluation(manifest: unknown): PlanResult {
  const parsed = parseEvaluationJob(manifest);
  if (!parsed.ok) return { ok: false, issues: parsed.issues };
  return { ok: true, plan: planFromJob(parsed.value) };
}

type Check = (value: unknown) => boolean;
const text: Check = (v) => typeof v === 'string' && v.length > 0;
const count =
  (min: number): Check =>
  (v) =>
    typeof v === 'number' && Number.isInteger(v) && v >= min;
const list: Check = (v) => Array.isArray(v);
const record: Check = (v) => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fields the workflow cannot do without, and what each must be. Everything else has a safe fallback. */
const required: readonly [string, Check][] = [
  ['spec.team', text],
  ['spec.user', text],
  ['spec.image', text],
  ['spec.priority', text],
  ['spec.env', list],
  ['spec.resources', record],
  ['spec.resources.cpu', text],
  ['spec.resources.memory', text],
  ['spec.resources.limits', record],
  ['spec.timeoutSeconds', count(1)],
  ['spec.retries.maxAttempts', count(1)],
  ['spec.retries.backoffSeconds', count(0)],
  ['spec.retries.transientExitCodes', list],
  ['spec.cluster', record],
  ['spec.retentionDays', count(1)],
];

function at(value: unknown, path: string): unknown {
  let here = value;
  for (const part of path.split('.')) {
    if (typeof here !== 'object' || here === null) return undefined;
    here = (here as Record<string, unknown>)[part];
  }
  return here;
}

/**
 * The plan of a spec the client already normalised (the workflow's input). No schema is applied here: only the
 * fields the workflow needs are checked, so that a spec it cannot use is refused (`InvalidSpec`) instead of failing
 * half-way. Deterministic and free of I/O, as workflow code must be.
 */
export function planFromSpec(spec: unknown): PlanResult {
  const issues = required
    .filter(([path, ok]) => !ok(at(spec, path)))
    .map(([path]) => ({ path, message: 'missing or not usable in a normalised spec' }));
  if (at(spec, 'kind') !== 'EvaluationJob')
    issues.unshift({ path: 'kind', message: 'must be EvaluationJob' });
  if (issues.length > 0) return { ok: false, issues };
  return { ok: true, plan: planFromJob(spec as EvaluationJob) };
}

/** Where and as what one attempt of a plan runs: the identity half of a {@link JobRequest}. */
export interface AttemptPlacement {
  readonly evaluationId: string;
  readonly attempt: number;
  readonly namespace: string;
  readonly workflowId: string;
  readonly runId: string;
  readonly runtimeClassName: string | null;
  /** The isolation resolved with the cluster choice; absent in workflows started before it existed. */
  readonly security?: JobSecurity;
  /** The trace context of the attempt (docs/observability.md); absent without one. */
  readonly trace?: TraceCarrierValue;
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
