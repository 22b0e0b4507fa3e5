/**
 * `AssayClient`: the typed way for services (and the CLI) to start, follow, cancel and find evaluations.
 *
 * Idempotency keys work like a payment API's: a retried `start` with the same key and the same normalised spec never
 * starts a second run (the workflow id is derived from the key; a running evaluation is returned as is — conflict
 * policy USE_EXISTING — and a finished one is not started again — reuse policy REJECT_DUPLICATE); the same key with
 * a different spec is refused with {@link EvaluationConflictError}.
 */
import {
  Client,
  Connection,
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  WorkflowNotFoundError,
  type WorkflowExecutionInfo,
} from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import { ulid } from 'ulid';
import { z } from 'zod';
import { InvalidEvaluationSpecError, parseEvaluationJob } from '../spec/evaluation-job.js';
import type { EvaluationJob } from '../spec/evaluation-job-schema.js';
import {
  evaluationRecordSchema,
  evaluationStatusSchema,
  outcomeSchema,
  phaseSchema,
  type EvaluationInput,
  type EvaluationRecord,
  type EvaluationStatus,
  type Outcome,
  type Phase,
} from '../spec/record.js';
import {
  evaluationIdSchema,
  evaluationWorkflowId,
  evaluationWorkflowType,
  statusQueryName,
  workflowTaskQueue,
} from '../spec/names.js';
import { storageKeys } from '../spec/storage-keys.js';
import { evaluationStartAttributes, searchAttributeKeys } from '../spec/search-attribute-keys.js';
import { startInputOf } from './start-input.js';
import { isSpanContextValid, SpanKind, type Span } from '@opentelemetry/api';
import { assayTracer } from '../telemetry/sdk.js';
import { tracingClientInterceptors } from '../telemetry/temporal.js';
import { quotaSnapshot, quotaSnapshots, withLiveQueuePosition } from './quota.js';
import type { QuotaSnapshot } from '../spec/quota.js';

export { InvalidEvaluationSpecError };

/** What is known of an evaluation that already existed under a key. */
export interface ExistingEvaluation {
  /** Temporal's execution status (RUNNING, COMPLETED, …). */
  readonly status: string;
  readonly outcome: string | null;
  readonly startTime: Date;
  readonly closeTime: Date | null;
}

/** The key names an evaluation that was started with another spec: nothing was started. */
export class EvaluationConflictError extends Error {
  readonly code = 'ASSAY_EVALUATION_CONFLICT';
  constructor(
    readonly evaluationId: string,
    readonly existing: ExistingEvaluation,
  ) {
    super(
      `evaluation ${evaluationId} already exists with a different spec (${describeExisting(existing)}); ` +
        `to start a new evaluation, give it another id (--id or metadata.name), or leave both out for a generated one`,
    );
    this.name = 'EvaluationConflictError';
  }
}

function ago(then: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - then.getTime()) / 1000));
  if (seconds < 90) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  if (minutes < 90) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 36 ? `${hours} h ago` : `${Math.round(hours / 24)} d ago`;
}

/** `Succeeded 3 min ago`, `Running, started 12 s ago`. */
export function describeExisting(existing: ExistingEvaluation, now: Date = new Date()): string {
  if (existing.closeTime === null)
    return `${existing.status === 'RUNNING' ? 'Running' : existing.status}, started ${ago(existing.startTime, now)}`;
  return `${existing.outcome ?? existing.status} ${ago(existing.closeTime, now)}`;
}

/** JSON with object keys sorted, so two equal specs compare equal whatever their key order. */
function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(
          Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
        )
      : v,
  );
}

/** The idempotency key is not usable as an evaluation id. */
export class InvalidEvaluationIdError extends Error {
  readonly code = 'ASSAY_INVALID_EVALUATION_ID';
  constructor(
    readonly id: string,
    readonly reason: string,
  ) {
    super(`invalid evaluation id ${JSON.stringify(id)}: ${reason}`);
    this.name = 'InvalidEvaluationIdError';
  }
}

/** No evaluation has this id (or Temporal no longer retains it). */
export class EvaluationNotFoundError extends Error {
  readonly code = 'ASSAY_EVALUATION_NOT_FOUND';
  constructor(readonly evaluationId: string) {
    super(`no evaluation ${evaluationId}`);
    this.name = 'EvaluationNotFoundError';
  }
}

/** The evaluation workflow failed without producing a record (e.g. its manifest was rejected). */
export class EvaluationWorkflowError extends Error {
  readonly code = 'ASSAY_EVALUATION_FAILED';
  constructor(
    readonly evaluationId: string,
    message: string,
    readonly failureType: string | undefined,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'EvaluationWorkflowError';
  }
}

export interface AssayClientOptions {
  /** Workflow task queue (default `assay`). */
  readonly taskQueue?: string;
}

export interface ConnectOptions extends AssayClientOptions {
  readonly address?: string;
  readonly namespace?: string;
}

export interface StartOptions {
  /**
   * The evaluation id: a repeated key returns the same evaluation. Default: `metadata.name`, else a new ULID.
   */
  readonly idempotencyKey?: string;
  /** Memo of the workflow (e.g. the EvaluationJob resource the controller started it for; docs/kubernetes.md). */
  readonly memo?: Record<string, unknown>;
}

export interface StartedEvaluation {
  readonly evaluationId: string;
  readonly workflowId: string;
  /** True when the key named an evaluation that already existed with the same spec: nothing new was started. */
  readonly existing: boolean;
  /** Set when `existing`: its status, outcome and times. */
  readonly existingEvaluation?: ExistingEvaluation;
  readonly manifest: EvaluationJob;
}

export interface ListFilter {
  readonly team?: string;
  readonly user?: string;
  /** The cluster its attempts run on (the `AssayCluster` search attribute, set when the cluster is chosen). */
  readonly cluster?: string;
  readonly phase?: Phase;
  readonly outcome?: Outcome;
  /** At most this many, newest first (default 100). */
  readonly limit?: number;
}

export interface EvaluationSummary {
  readonly evaluationId: string;
  readonly workflowId: string;
  /** Temporal's execution status (RUNNING, COMPLETED, …). */
  readonly status: string;
  readonly team: string | null;
  readonly user: string | null;
  readonly cluster: string | null;
  /**
   * What runs its attempts, `kubernetes` or `docker` (docs/migration.md): from the memo the workflow sets when it
   * chooses the cluster; null before that, and for evaluations started before the workflow set it.
   */
  readonly executor: string | null;
  readonly phase: string | null;
  readonly outcome: string | null;
  readonly exitCode: number | null;
  readonly startTime: Date;
  readonly closeTime: Date | null;
}

const filterValue = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label');
const listFilterSchema = z.object({
  team: filterValue.optional(),
  user: filterValue.optional(),
  cluster: filterValue.optional(),
  phase: phaseSchema.optional(),
  outcome: outcomeSchema.optional(),
  limit: z.number().int().positive().max(10_000).optional(),
});

function evaluationIdOf(workflowId: string): string {
  return workflowId.startsWith('eval-') ? workflowId.slice('eval-'.length) : workflowId;
}

export function summaryOf(info: WorkflowExecutionInfo): EvaluationSummary {
  const sa = info.typedSearchAttributes;
  const executor = info.memo?.executor;
  return {
    evaluationId: evaluationIdOf(info.workflowId),
    workflowId: info.workflowId,
    status: info.status.name,
    team: sa.get(searchAttributeKeys.team) ?? null,
    user: sa.get(searchAttributeKeys.user) ?? null,
    cluster: sa.get(searchAttributeKeys.cluster) ?? null,
    executor: typeof executor === 'string' ? executor : null,
    phase: sa.get(searchAttributeKeys.phase) ?? null,
    outcome: sa.get(searchAttributeKeys.outcome) ?? null,
    exitCode: sa.get(searchAttributeKeys.exitCode) ?? null,
    startTime: info.startTime,
    closeTime: info.closeTime ?? null,
  };
}

/** The Web UI's page of one workflow. */
export function webUiLink(uiBase: string, namespace: string, workflowId: string): string {
  return `${uiBase.replace(/\/$/, '')}/namespaces/${encodeURIComponent(namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

export class AssayClient {
  readonly taskQueue: string;

  constructor(
    readonly temporal: Client,
    options: AssayClientOptions = {},
    private readonly ownedConnection?: Connection,
  ) {
    this.taskQueue = options.taskQueue ?? workflowTaskQueue;
  }

  /** Connects to Temporal (default `$TEMPORAL_ADDRESS`, namespace `$TEMPORAL_NAMESPACE`). */
  static async connect(options: ConnectOptions = {}): Promise<AssayClient> {
    const address = options.address ?? process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
    const namespace = options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? 'default';
    let connection: Connection;
    try {
      connection = await Connection.connect({ address, connectTimeout: '5 seconds' });
    } catch (err) {
      throw new Error(
        `cannot reach Temporal at ${address} (set TEMPORAL_ADDRESS): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    return new AssayClient(
      new Client({ connection, namespace, interceptors: tracingClientInterceptors() }),
      options,
      connection,
    );
  }

  get namespace(): string {
    return this.temporal.options.namespace;
  }

  /** Closes the connection if this client opened it. */
  async close(): Promise<void> {
    await this.ownedConnection?.close();
  }

  /**
   * Validates the manifest and starts its evaluation, or returns the evaluation the key already names when it was
   * started with the same normalised spec.
   *
   * @throws {InvalidEvaluationSpecError} listing every field-level issue; nothing is started.
   * @throws {InvalidEvaluationIdError} when the key is not a valid evaluation id.
   * @throws {EvaluationConflictError} when the key names an evaluation started with a different spec.
   */
  async start(manifest: unknown, options: StartOptions = {}): Promise<StartedEvaluation> {
    const parsed = parseEvaluationJob(manifest);
    if (!parsed.ok) throw new InvalidEvaluationSpecError(parsed.issues);
    const job = parsed.value;
    const evaluationId = options.idempotencyKey ?? job.metadata.name ?? ulid().toLowerCase();
    const idCheck = evaluationIdSchema.safeParse(evaluationId);
    if (!idCheck.success) {
      throw new InvalidEvaluationIdError(evaluationId, idCheck.error.issues.map((i) => i.message).join('; '));
    }
    const workflowId = evaluationWorkflowId(evaluationId);
    const input: EvaluationInput = {
      evaluationId,
      spec: JSON.parse(JSON.stringify(job)) as EvaluationInput['spec'],
      submittedAt: new Date().toISOString(),
    };
    const s = job.spec;
    // The submit span is the evaluation trace's root (or a child of the caller's span): the client interceptor's
    // StartWorkflow span, and through the headers the whole workflow, are its children (docs/observability.md).
    await assayTracer().startActiveSpan(
      `submit ${evaluationId}`,
      { kind: SpanKind.PRODUCER, attributes: { 'assay.evaluation_id': evaluationId, 'assay.team': s.team } },
      async (span) => {
        try {
          await this.startWorkflow(job, input, workflowId, options, traceIdOf(span));
        } finally {
          span.end();
        }
      },
    );
    // With USE_EXISTING the server answers with the running execution when there is one, and REJECT_DUPLICATE
    // refuses a finished one: the execution is ours only if it carries the input this call sent.
    const existing = await startInputOf(this.temporal, { workflowId });
    if (existing?.submittedAt === input.submittedAt)
      return { evaluationId, workflowId, existing: false, manifest: job };
    const existingEvaluation = await this.existingOf(workflowId);
    if (existing === null || canonicalJson(existing.spec) !== canonicalJson(input.spec)) {
      throw new EvaluationConflictError(evaluationId, existingEvaluation);
    }
    return { evaluationId, workflowId, existing: true, existingEvaluation, manifest: job };
  }

  /** Starts the evaluation workflow (a conflict with a running one is sorted out by the caller). */
  private async startWorkflow(
    job: EvaluationJob,
    input: EvaluationInput,
    workflowId: string,
    options: StartOptions,
    traceId: string | null,
  ): Promise<void> {
    const s = job.spec;
    const evaluationId = input.evaluationId;
    try {
      await this.temporal.workflow.start(evaluationWorkflowType, {
        taskQueue: this.taskQueue,
        workflowId,
        args: [input],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          ...evaluationStartAttributes(s),
          ...(traceId !== null ? [{ key: searchAttributeKeys.traceId, value: traceId }] : []),
        ],
        ...(options.memo !== undefined ? { memo: options.memo } : {}),
        staticSummary: `${s.team}/${s.user}: ${s.image}${job.metadata.name ? ` (${job.metadata.name})` : ''}`,
        staticDetails: [
          `**Evaluation** \`${evaluationId}\``,
          `**Team / user:** ${s.team} / ${s.user}`,
          `**Image:** \`${s.image}\``,
          `**Command:** \`${[...(s.command ?? []), ...(s.args ?? [])].join(' ').slice(0, 300) || '(image default)'}\``,
          `**Resources:** cpu ${s.resources.cpu}, memory ${s.resources.memory}; timeout ${s.timeoutSeconds}s; ` +
            `up to ${s.retries.maxAttempts} attempts`,
          `**Record:** \`${storageKeys.record(evaluationId)}\``,
        ].join('\n\n'),
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }

  private async existingOf(workflowId: string): Promise<ExistingEvaluation> {
    const info = await this.temporal.workflow.getHandle(workflowId).describe();
    return {
      status: info.status.name,
      outcome: info.typedSearchAttributes.get(searchAttributeKeys.outcome) ?? null,
      startTime: info.startTime,
      closeTime: info.closeTime ?? null,
    };
  }

  /**
   * The evaluation's current phase, attempt, pod, timings and storage keys (the workflow's `status` query).
   *
   * @throws {EvaluationNotFoundError} when no evaluation has this id.
   */
  async status(evaluationId: string): Promise<EvaluationStatus> {
    try {
      const raw: unknown = await this.temporal.workflow
        .getHandle(evaluationWorkflowId(evaluationId))
        .query<EvaluationStatus>(statusQueryName);
      return await withLiveQueuePosition(this.temporal, evaluationStatusSchema.parse(raw));
    } catch (err) {
      throw this.translate(err, evaluationId);
    }
  }

  /**
   * Waits for the evaluation's outcome and returns its record (also for Failed, TimedOut, Cancelled, …).
   *
   * @throws {EvaluationNotFoundError} when no evaluation has this id.
   * @throws {EvaluationWorkflowError} when the workflow ended without a record (e.g. an invalid manifest).
   */
  async result(evaluationId: string): Promise<EvaluationRecord> {
    try {
      const workflowId = evaluationWorkflowId(evaluationId);
      const handle = this.temporal.workflow.getHandle(workflowId);
      const raw = (await handle.result()) as Record<string, unknown>;
      // The workflow's result leaves the spec in its input (history holds it once): join it back.
      const input = await startInputOf(this.temporal, { workflowId });
      return evaluationRecordSchema.parse({ ...raw, spec: raw.spec ?? input?.spec ?? null });
    } catch (err) {
      throw this.translate(err, evaluationId);
    }
  }

  /**
   * Requests cancellation: the workflow deletes the Job, stores the log and records `Cancelled`.
   *
   * @throws {EvaluationNotFoundError} when no evaluation has this id.
   */
  async cancel(evaluationId: string): Promise<void> {
    try {
      await this.temporal.workflow.getHandle(evaluationWorkflowId(evaluationId)).cancel();
    } catch (err) {
      throw this.translate(err, evaluationId);
    }
  }

  /** Evaluations matching the filter, newest first, from Temporal visibility (search attributes). */
  async list(filter: ListFilter = {}): Promise<EvaluationSummary[]> {
    const f = listFilterSchema.parse(filter);
    const clauses = [`WorkflowType = '${evaluationWorkflowType}'`];
    if (f.team !== undefined) clauses.push(`AssayTeam = '${f.team}'`);
    if (f.user !== undefined) clauses.push(`AssayUser = '${f.user}'`);
    if (f.cluster !== undefined) clauses.push(`AssayCluster = '${f.cluster}'`);
    if (f.phase !== undefined) clauses.push(`AssayPhase = '${f.phase}'`);
    if (f.outcome !== undefined) clauses.push(`AssayOutcome = '${f.outcome}'`);
    const out: EvaluationSummary[] = [];
    const limit = f.limit ?? 100;
    for await (const info of this.temporal.workflow.list({
      query: clauses.join(' AND '),
      pageSize: Math.min(limit, 1000),
    })) {
      out.push(summaryOf(info));
      if (out.length >= limit) break;
    }
    return out;
  }

  /** The quota of `team` (or of every team with a running quota workflow): limits, in use, queued (docs/quota.md). */
  async quota(team?: string): Promise<QuotaSnapshot[]> {
    if (team === undefined) return await quotaSnapshots(this.temporal);
    const snapshot = await quotaSnapshot(this.temporal, team);
    return snapshot === null ? [] : [snapshot];
  }

  private translate(err: unknown, evaluationId: string): unknown {
    if (err instanceof WorkflowNotFoundError) return new EvaluationNotFoundError(evaluationId);
    if (err instanceof WorkflowFailedError) {
      const cause = err.cause as { type?: string; message?: string } | undefined;
      return new EvaluationWorkflowError(
        evaluationId,
        `evaluation ${evaluationId} failed: ${cause?.message ?? err.message}`,
        cause?.type,
        { cause: err },
      );
    }
    return err;
  }
}

/** The trace id of `span` when it belongs to a real trace (not the API's no-op span of a process without tracing). */
function traceIdOf(span: Span): string | null {
  const context = span.spanContext();
  return isSpanContextValid(context) ? context.traceId : null;
}
