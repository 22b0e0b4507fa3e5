/**
 * The `evaluation` workflow (docs/architecture.md, "The evaluation workflow"): it decides, activities act. Each
 * attempt's log is captured while its pod runs, in parallel with the wait for the main container; the pod's finalizer
 * is removed by the cleanup, which runs only after the capture has finished.
 *
 * History economy: the spec travels once (the input); search attributes are upserted only when the phase a user
 * filters on changes (Running, BackingOff, Completed), never repeating what the start already set.
 */
import { context } from '@opentelemetry/api';
import { evaluationSpans, type EvaluationSpans, type TraceCarrier } from './tracing.js';
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  defineQuery,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  setCurrentDetails,
  sleep,
  TimeoutFailure,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
  type ActivityOptions,
  type LocalActivityOptions,
} from '@temporalio/workflow';
import { TimeoutType, type SearchAttributeUpdatePair } from '@temporalio/common';
import { resourceRequestOf } from '../placement/request.js';
import type { ResourceRequest } from '../placement/types.js';
import type {
  AvoidedCluster,
  CentralActivities,
  ClusterChoice,
  ClusterQueueActivities,
} from '../activities/types.js';
import type { CollectedOutputs, OutputActivities } from '../activities/artifacts.js';
import { withArtifactViolations } from '../artifacts/outcome.js';
import type { AttemptLogs } from '../spec/record.js';
import { jobRequestFor, planFromSpec, type EvaluationPlan } from '../spec/plan.js';
import type {
  AttemptEnd,
  AttemptRecord,
  EvaluationInput,
  EvaluationOutput,
  EvaluationStatus,
  Outcome,
  Phase,
} from '../spec/record.js';
import { failureOutcomes } from '../spec/record.js';
import { attemptJobName, statusQueryName } from '../spec/names.js';
import { storageKeys } from '../spec/storage-keys.js';
import { errorTypes } from '../spec/error-types.js';
import { searchAttributeKeys } from '../spec/search-attribute-keys.js';
import { createQuotaHook } from './evaluation-quota.js';
import { createNotifier } from './notify.js';

export const statusQuery = defineQuery<EvaluationStatus>(statusQueryName);

/** Heartbeat timeout of the wait activity: how quickly a crashed cluster worker is noticed. */
export const awaitHeartbeatTimeoutSeconds = 15;
/** Heartbeat timeout of the log capture: how quickly a crashed worker's capture is resumed elsewhere. */
export const captureHeartbeatTimeoutSeconds = 10;
/** How long the capture may take to store the rest once the main container has ended, before it is told to finish. */
export const captureGraceSeconds = 120;
/** Heartbeat timeout of the result/artifact extraction: how quickly a crashed worker's upload is retried. */
export const collectHeartbeatTimeoutSeconds = 20;
/** Upper bound on the back-off between attempts. */
export const maxBackoffSeconds = 600;

const nonRetryableErrorTypes = Object.values(errorTypes);

/**
 * The central activities (cluster choice, the record) are short and served by the workflow's own workers, so they
 * run as local activities: one marker event each instead of three events and a workflow task. A local activity
 * retried past the local retry threshold is backed off with a durable timer, so a store that is away for long is
 * still waited out.
 */
const centralOptions: LocalActivityOptions = {
  startToCloseTimeout: '1 minute',
  localRetryThreshold: '10 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', nonRetryableErrorTypes },
};

/** The patch that decides the executor memo before the cluster choice (see its use in `evaluation`). */
export const executorMemoEarlyPatch = 'executor-memo-early';

/** The lost-worker bound of choices made before `placement.lostClusterSeconds` existed. */
const defaultLostClusterSeconds = 600;

function clusterOptions(taskQueue: string, lostClusterSeconds = defaultLostClusterSeconds): ActivityOptions {
  return {
    taskQueue,
    // A dead cluster worker shows up as a task nobody picks up (a schedule-to-start timeout is never retried).
    scheduleToStartTimeout: `${lostClusterSeconds} seconds`,
    // Create and cleanup are a few requests of at most 30 s each: a task lost by the server is retried within a minute.
    startToCloseTimeout: '1 minute',
    retry: {
      initialInterval: '1 second',
      maximumInterval: '30 seconds',
      maximumAttempts: 20,
      nonRetryableErrorTypes,
    },
  };
}

/**
 * Attempt ends that say the cluster, not the evaluation, failed: the next attempt is placed elsewhere when another
 * cluster fits, and an attempt that never started does not use up the retry budget.
 */
const clusterFailures: ReadonlySet<string> = new Set([
  'Unschedulable',
  'ClusterUnreachable',
  'ClusterWorkerLost',
]);

/** Moves without a start before the evaluation gives up: bounds a ping-pong between clusters that all fail it. */
const maxMoves = 10;

/** How long a lost cluster's log capture is waited for before the evaluation moves on. */
const lostClusterSettleSeconds = 30;

/** True when an activity failed because no worker of its cluster queue picked it up in time. */
function isWorkerLost(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === TimeoutType.SCHEDULE_TO_START
  );
}

/** The cluster's activities, bound to its task queue. */
interface BoundCluster {
  readonly choice: ClusterChoice;
  readonly kube: ClusterQueueActivities;
  /** The cleanup of an attempt on a lost cluster, not waited for (the janitor finishes what it leaves). */
  readonly lostCleanup: ClusterQueueActivities;
  readonly waiter: ClusterQueueActivities;
  readonly capturer: ClusterQueueActivities;
  readonly collector: OutputActivities;
}

function bindCluster(choice: ClusterChoice, plan: EvaluationPlan): BoundCluster {
  const options = clusterOptions(choice.taskQueue, choice.lostClusterSeconds);
  return {
    choice,
    kube: proxyActivities<ClusterQueueActivities>(options),
    // Waits for the cluster's worker as long as the evaluation lives; an ended evaluation abandons it.
    lostCleanup: proxyActivities<ClusterQueueActivities>({ ...options, scheduleToStartTimeout: '1 day' }),
    waiter: proxyActivities<ClusterQueueActivities>({
      ...options,
      startToCloseTimeout: `${plan.timeoutSeconds + 600} seconds`,
      heartbeatTimeout: `${awaitHeartbeatTimeoutSeconds} seconds`,
    }),
    capturer: proxyActivities<ClusterQueueActivities>({
      ...options,
      startToCloseTimeout: `${plan.timeoutSeconds + 1800} seconds`,
      heartbeatTimeout: `${captureHeartbeatTimeoutSeconds} seconds`,
      // A cancelled capture stores what it has and returns the keys: wait for that answer.
      cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    }),
    collector: proxyActivities<OutputActivities>({
      ...options,
      startToCloseTimeout: `${collectTimeoutSeconds(plan)} seconds`,
      heartbeatTimeout: `${collectHeartbeatTimeoutSeconds} seconds`,
    }),
  };
}

/**
 * The evaluation's requests as selection counts them; nothing when a quantity does not parse (the client validated
 * them, so only a spec from an older schema could), which leaves the limits unchecked rather than failing the task.
 */
function selectionResources(plan: EvaluationPlan): { resources?: ResourceRequest } {
  try {
    return { resources: resourceRequestOf(plan.resources) };
  } catch {
    return {};
  }
}

/** Time allowed to stream the declared outputs out: ten minutes plus 5 MiB/s of the largest possible size. */
function collectTimeoutSeconds(plan: EvaluationPlan): number {
  const bytes = (plan.outputs?.result?.maxBytes ?? 0) + (plan.outputs?.artifacts?.maxBytes ?? 0);
  return 600 + Math.ceil(bytes / (5 * 1024 * 1024));
}

/**
 * Step 6–7: the result (result file or termination message) and the artifacts of the attempt that decides the
 * outcome. The collector is read only when the main container ended by itself (its pod still runs the collector).
 */
async function collectAttemptOutputs(
  collector: OutputActivities,
  plan: EvaluationPlan,
  ref: { namespace: string; evaluationId: string; attempt: number },
  end: AttemptEnd,
): Promise<{ collected: CollectedOutputs | null; note: string | null }> {
  const readPod =
    plan.outputs !== null && end.pod !== null && (end.kind === 'Succeeded' || end.kind === 'Failed');
  if (!readPod && end.result === null) return { collected: null, note: null };
  try {
    const collected = await collector.collectOutputs({
      ...ref,
      pod: end.pod,
      outputs: readPod ? plan.outputs : null,
      terminationMessage: end.terminationMessage,
    });
    return { collected, note: null };
  } catch (err) {
    if (isCancellation(err)) throw err;
    return { collected: null, note: `result and artifacts not collected: ${failureText(err).message}` };
  }
}

function backoffSeconds(plan: EvaluationPlan, attempt: number): number {
  return Math.min(plan.retries.backoffSeconds * 2 ** (attempt - 1), maxBackoffSeconds);
}

function outcomeOf(kind: AttemptEnd['kind']): Outcome {
  switch (kind) {
    case 'Succeeded':
    case 'Failed':
    case 'TimedOut':
      return kind;
    case 'Infrastructure':
      return 'InfrastructureError';
    case 'Configuration':
      return 'ConfigurationError';
  }
}

function nowIso(): string {
  return new Date().toISOString();
}

function failureText(err: unknown): { reason: string; message: string } {
  if (err instanceof ApplicationFailure)
    return { reason: err.type ?? 'ApplicationFailure', message: err.message };
  const cause = err instanceof Error && err.cause instanceof ApplicationFailure ? err.cause : undefined;
  if (cause !== undefined) return { reason: cause.type ?? 'ApplicationFailure', message: cause.message };
  if (err instanceof Error) return { reason: err.name, message: err.message };
  return { reason: 'Error', message: String(err) };
}

/**
 * Runs one evaluation to its outcome and returns its record (without `spec`, which is the input's).
 *
 * @throws ApplicationFailure `InvalidSpec` (nothing is created) when the input's spec lacks what the workflow needs.
 */
export async function evaluation(input: EvaluationInput): Promise<EvaluationOutput> {
  const info = workflowInfo();
  // First, while the interceptor's RunWorkflow span is the active context (src/workflows/tracing.ts).
  const spans = evaluationSpans({ 'assay.evaluation_id': input.evaluationId });
  const planned = planFromSpec(input.spec);
  if (!planned.ok) {
    throw ApplicationFailure.create({
      type: errorTypes.invalidSpec,
      nonRetryable: true,
      message: planned.issues.map((i) => `${i.path}: ${i.message}`).join('; '),
      details: [planned.issues],
    });
  }
  const plan = planned.plan;
  const quota = createQuotaHook(input.evaluationId, info.workflowId, plan);

  const state = {
    phase: 'Validating' as Phase,
    outcome: null as Outcome | null,
    reason: null as string | null,
    message: null as string | null,
    cluster: null as ClusterChoice | null,
    attempts: [] as AttemptRecord[],
    startedAt: null as string | null,
    finishedAt: null as string | null,
    nextAttemptAt: null as string | null,
  };
  let resultOf: AttemptEnd['result'] = null;
  let outputs: CollectedOutputs | null = null;
  let outputsNote: string | null = null;
  const current = (): AttemptRecord | undefined => state.attempts[state.attempts.length - 1];
  // Notification webhooks (docs/notifications.md): hand-overs to per-endpoint delivery workflows, never awaited here.
  const notifier = createNotifier({
    evaluationId: input.evaluationId,
    spec: input.spec,
    team: plan.team,
    user: plan.user,
    maxAttempts: plan.retries.maxAttempts,
    state: () => ({ ...state, exitCode: current()?.exitCode ?? null, attempt: state.attempts.length }),
  });

  setHandler(statusQuery, () => ({
    evaluationId: input.evaluationId,
    phase: state.phase,
    outcome: state.outcome,
    reason: state.reason,
    cluster: state.cluster?.name ?? null,
    namespace: state.cluster?.namespace ?? null,
    placement:
      state.cluster === null
        ? null
        : {
            reason: state.cluster.reason,
            candidates: state.cluster.candidates ?? [],
            excluded: state.cluster.excluded ?? [],
          },
    attempt: state.attempts.length,
    maxAttempts: plan.retries.maxAttempts,
    job: current()?.job ?? null,
    pod: current()?.pod ?? null,
    timings: {
      submittedAt: input.submittedAt,
      startedAt: state.startedAt,
      finishedAt: state.finishedAt,
      ...quota.timings(),
    },
    attempts: state.attempts,
    recordKey: storageKeys.record(input.evaluationId),
    traceId: spans.traceId,
    nextAttemptAt: state.nextAttemptAt,
    ...quota.view(),
  }));

  const describe = (): string => {
    const lines = [`**Phase:** ${state.phase}`];
    if (state.cluster !== null)
      lines.push(`**Cluster:** ${state.cluster.name} (namespace ${state.cluster.namespace})`);
    const queued = quota.view().queue;
    if (state.phase === 'Queued' && queued !== null) {
      lines.push(
        `**Queue:** joined at position ${queued.position} of \`${queued.workflowId}\` — ${queued.waitingFor}`,
      );
    }
    const attempt = current();
    if (attempt !== undefined) {
      lines.push(`**Attempt:** ${attempt.attempt} of ${plan.retries.maxAttempts} — Job \`${attempt.job}\``);
      if (attempt.pod !== null) lines.push(`**Pod:** \`${attempt.pod}\``);
      lines.push(
        `**Logs:** \`${storageKeys.stdout(input.evaluationId, attempt.attempt)}\`, ` +
          `\`${storageKeys.stderr(input.evaluationId, attempt.attempt)}\``,
      );
    }
    if (state.nextAttemptAt !== null) lines.push(`**Next attempt at:** ${state.nextAttemptAt}`);
    if (state.outcome !== null) {
      lines.push(`**Outcome:** ${state.outcome}${state.reason !== null ? ` (${state.reason})` : ''}`);
    }
    lines.push(`**Record:** \`${storageKeys.record(input.evaluationId)}\``);
    if (spans.traceId !== null) lines.push(`**Trace:** \`${spans.traceId}\``);
    return lines.join('\n\n');
  };
  /** The phase search attribute as last upserted (the start sets `Validating`). */
  let listedPhase: Phase = 'Validating';
  /**
   * A phase change shows in the status query and the Web UI's details at once (neither costs an event); the
   * `AssayPhase` search attribute, one history event per upsert, follows only the phases worth filtering on.
   */
  const setPhase = (phase: Phase, attributes: SearchAttributeUpdatePair[] = []): void => {
    state.phase = phase;
    if (phase === 'CleaningUp') spans.finish();
    spans.phase(phaseSpanNames[phase]);
    setCurrentDetails(describe());
    const listed =
      phase === 'Queued' || phase === 'Running' || phase === 'BackingOff' || phase === 'Completed';
    const changes = [
      ...(listed && phase !== listedPhase ? [{ key: searchAttributeKeys.phase, value: phase }] : []),
      ...attributes,
    ];
    if (listed) listedPhase = phase;
    if (changes.length > 0) upsertSearchAttributes(changes);
  };
  setCurrentDetails(describe());

  const central = proxyLocalActivities<CentralActivities>(centralOptions);
  /**
   * The memo patch, decided before the cluster choice (a local activity) is scheduled, so its marker is recorded in
   * the first workflow task. Decided after the choice (`executor-memo`, histories from before this patch), the marker
   * could land in a later workflow task than the choice's: the worker may complete the first task with the choice's
   * marker alone and resume the code in a new one, while a replay resolves the choice within the first task, where the
   * SDK does not know the marker yet — the replay then fails with a nondeterminism error.
   */
  const memoDecidedEarly = patched(executorMemoEarlyPatch);
  /** Each cluster's activities, bound once per cluster the evaluation is placed on. */
  const bound = new Map<string, BoundCluster>();
  const bindOf = (choice: ClusterChoice): BoundCluster => {
    let b = bound.get(choice.name);
    if (b === undefined) {
      b = bindCluster(choice, plan);
      bound.set(choice.name, b);
    }
    return b;
  };
  /** The cluster each attempt was placed on, by attempt number. */
  const placedOn = new Map<number, BoundCluster>();
  /** The attempt whose Job may exist and has not been cleaned up yet. */
  let pending: number | null = null;
  /** Running log captures by attempt; cancelling a scope tells its capture to store what there is and finish. */
  const captures = new Map<
    number,
    { scope: CancellationScope; logs: Promise<AttemptLogs | null>; done: boolean }
  >();

  /**
   * The capture's result: after the grace period, or at once when the attempt did not end, it is told to finish. On a
   * lost cluster its answer is waited for a bounded time only.
   */
  const settleCapture = async (
    attempt: AttemptRecord,
    ended: boolean,
    lost: boolean,
  ): Promise<AttemptLogs | null> => {
    const capture = captures.get(attempt.attempt);
    if (capture === undefined) return null;
    if (ended && attempt.startedAt !== null && !capture.done) {
      const timer = new CancellationScope();
      await Promise.race([
        capture.logs.then(
          () => undefined,
          () => undefined,
        ),
        timer.run(() => sleep(captureGraceSeconds * 1000)),
      ]);
      timer.cancel();
    }
    capture.scope.cancel();
    if (!lost || capture.done) return await capture.logs;
    const timer = new CancellationScope();
    const settled = await Promise.race([
      capture.logs.then((logs) => ({ logs })),
      timer.run(() => sleep(lostClusterSettleSeconds * 1000)).then(() => null),
    ]);
    timer.cancel();
    if (settled === null) {
      throw new Error(`its capture did not answer within ${lostClusterSettleSeconds} s on the lost cluster`);
    }
    return settled.logs;
  };

  const finishAttempt = async (attempt: AttemptRecord, ended = true, lost = false): Promise<void> => {
    const on = placedOn.get(attempt.attempt);
    if (on === undefined) return;
    const ref = {
      namespace: on.choice.namespace,
      evaluationId: input.evaluationId,
      attempt: attempt.attempt,
    };
    try {
      attempt.logs = await settleCapture(attempt, ended, lost);
    } catch (err) {
      // Losing a log must not leak the Job: note it and clean up anyway.
      attempt.message = `${attempt.message ?? ''}${attempt.message ? '; ' : ''}log not stored: ${failureText(err).message}`;
    }
    if (lost) {
      // Not waited for: it runs when the cluster's worker answers again while the evaluation lives, and the janitor
      // deletes what is left once it has ended (docs/multi-cluster.md, "Spill-over and failover").
      on.lostCleanup.cleanupAttempt(ref).catch(() => undefined);
    } else {
      await on.kube.cleanupAttempt(ref);
    }
    pending = null;
  };

  try {
    setPhase('SelectingCluster');
    const select = (avoid: AvoidedCluster[]): Promise<ClusterChoice> =>
      spans.inPhase(() =>
        central.selectCluster({
          team: plan.team,
          user: plan.user,
          evaluationId: input.evaluationId,
          name: plan.cluster.name,
          selector: plan.cluster.selector,
          gpuType: plan.cluster.gpuType,
          isolation: {
            image: plan.image,
            egress: plan.egress,
            seccomp: plan.security.seccomp,
            runtime: plan.security.runtime,
          },
          // For the clusters' per-evaluation limits and the score's headroom and price.
          ...selectionResources(plan),
          ...(avoid.length > 0 ? { avoid } : {}),
        }),
      );
    let cluster = await select([]);
    state.cluster = cluster;
    // The executor in the memo, which visibility lists return, so `assay list` shows it without reading records
    // (docs/migration.md). Behind a patch: histories from before it have no such command.
    if (memoDecidedEarly || patched('executor-memo')) upsertMemo({ executor: cluster.executor ?? 'kubernetes' });
    notifier.route({ taskQueue: cluster.taskQueue, namespace: cluster.namespace });
    notifier.notify('queued');
    // A choice that carries the lost-cluster bound was made by a worker that moves evaluations between clusters; one
    // recorded before (in an older history) keeps every attempt on its cluster. Read from the recorded choice, so no
    // patch marker (and no extra search-attribute upsert) is needed.
    const moving = cluster.lostClusterSeconds !== undefined;
    let here = bindOf(cluster);
    /** The clusters attempts left, for the next selection; the cluster `AssayCluster` lists. */
    const avoid: AvoidedCluster[] = [];
    let listedCluster: string | null = null;
    /** Attempts that never started because their cluster failed them: they do not use up the retry budget. */
    let moves = 0;
    let reselect = false;

    // Step 3: hold a reservation in the team's quota from here to the cleanup (phase Queued while waiting).
    await quota.reserve(cluster.quota === true, () => setPhase('Queued'));
    for (let attempt = 1; ; attempt++) {
      if (reselect) {
        setPhase('SelectingCluster');
        cluster = await select(avoid);
        state.cluster = cluster;
        notifier.route({ taskQueue: cluster.taskQueue, namespace: cluster.namespace });
        here = bindOf(cluster);
        reselect = false;
      }
      const on = here;
      spans.attempt(attempt);
      setPhase('CreatingJob');
      const record: AttemptRecord = {
        attempt,
        job: attemptJobName(input.evaluationId, attempt),
        pod: null,
        exitCode: null,
        reason: null,
        message: null,
        kind: null,
        startedAt: null,
        finishedAt: null,
        logs: null,
        ...(moving ? { cluster: cluster.name } : {}),
      };
      state.attempts.push(record);
      placedOn.set(attempt, on);
      pending = attempt;
      const request = jobRequestFor(plan, {
        evaluationId: input.evaluationId,
        attempt,
        namespace: cluster.namespace,
        workflowId: info.workflowId,
        runId: info.runId,
        runtimeClassName: cluster.runtimeClassName,
        ...(cluster.security !== undefined ? { security: cluster.security } : {}),
        ...traceOf(spans),
      });
      let end: AttemptEnd;
      try {
        await spans.inPhase(() => on.kube.createJob(request));
        // Step 5: the capture runs alongside the wait; only an explicit cancel of its own scope reaches it.
        const ref = { namespace: cluster.namespace, evaluationId: input.evaluationId, attempt };
        let scope!: CancellationScope;
        const captureSpan = spans.open('capture');
        const logs = CancellationScope.nonCancellable(() => {
          scope = new CancellationScope();
          return scope.run(() =>
            context.with(captureSpan.context, () =>
              on.capturer.storeAttemptLogs({ ...ref, multiline: plan.multiline }),
            ),
          );
        });
        const capture = { scope, logs, done: false };
        // Known as done, a capture that ended before the wait needs no grace timer.
        logs.then(
          () => {
            capture.done = true;
            captureSpan.end();
          },
          (err: unknown) => {
            capture.done = true;
            captureSpan.end(failureText(err).message);
          },
        );
        captures.set(attempt, capture);
        const listed = cluster.name !== listedCluster;
        listedCluster = cluster.name;
        setPhase('Running', listed ? [{ key: searchAttributeKeys.cluster, value: cluster.name }] : []);
        if (attempt === 1) notifier.notify('started');
        end = await spans.inPhase(() =>
          on.waiter.awaitAttempt({
            namespace: cluster.namespace,
            evaluationId: input.evaluationId,
            attempt,
            timeoutSeconds: plan.timeoutSeconds,
            // Spill-over: only offered where another cluster could take the evaluation.
            ...(moving && cluster.unschedulableSeconds !== undefined
              ? { unschedulableSeconds: cluster.unschedulableSeconds }
              : {}),
            ...(moving && cluster.lostClusterSeconds !== undefined
              ? { lostClusterSeconds: cluster.lostClusterSeconds }
              : {}),
          }),
        );
      } catch (err) {
        if (!moving || !isWorkerLost(err)) throw err;
        end = {
          kind: 'Infrastructure',
          pod: record.pod,
          exitCode: null,
          reason: 'ClusterWorkerLost',
          message: `no worker of cluster ${cluster.name} picked up the attempt's task within ${
            cluster.lostClusterSeconds ?? defaultLostClusterSeconds
          } s`,
          startedAt: null,
          finishedAt: null,
          result: null,
          terminationMessage: null,
        };
      }
      Object.assign(record, {
        pod: end.pod,
        exitCode: end.exitCode,
        reason: end.reason,
        message: end.message,
        kind: end.kind,
        startedAt: end.startedAt,
        finishedAt: end.finishedAt,
        // Cost (docs/cost.md): what the wait measured, priced where the record is written.
        ...(end.measurement != null ? { measurement: end.measurement } : {}),
      });
      state.startedAt ??= end.startedAt;
      spans.attemptEnded(end.kind, end.reason);
      const transientFailure =
        end.kind === 'Failed' &&
        end.exitCode !== null &&
        plan.retries.transientExitCodes.includes(end.exitCode);
      // The cluster failed the attempt: the next one is placed elsewhere when another cluster fits.
      const clusterFailed =
        moving && end.kind === 'Infrastructure' && end.reason !== null && clusterFailures.has(end.reason);
      const unstarted = clusterFailed && end.startedAt === null;
      if (unstarted) moves++;
      const retrying = unstarted
        ? moves <= maxMoves
        : (end.kind === 'Infrastructure' || transientFailure) && attempt - moves < plan.retries.maxAttempts;
      if (clusterFailed && !avoid.some((a) => a.name === cluster.name))
        avoid.push({ name: cluster.name, reason: `attempt ${attempt} ${end.reason ?? ''}` });
      // Its cluster is out of reach: nothing more is read from it, and its cleanup is not waited for.
      const lost = clusterFailed && end.reason !== 'Unschedulable';
      if (!retrying && !lost) {
        // Before cleanup: the collector dies with the pod.
        const ref = { namespace: cluster.namespace, evaluationId: input.evaluationId, attempt };
        ({ collected: outputs, note: outputsNote } = await spans.within('collect', () =>
          collectAttemptOutputs(on.collector, plan, ref, end),
        ));
      }
      await CancellationScope.nonCancellable(() =>
        spans.inPhase(() => finishAttempt(record, !lost, lost)),
      );

      if (retrying) {
        reselect = clusterFailed;
        // A move to another cluster before the attempt ran waits for nothing.
        if (unstarted) continue;
        const delay = backoffSeconds(plan, attempt);
        state.nextAttemptAt = new Date(Date.now() + delay * 1000).toISOString();
        setPhase('BackingOff');
        notifier.notify('retrying');
        await sleep(delay * 1000);
        state.nextAttemptAt = null;
        continue;
      }
      state.outcome = outcomeOf(end.kind);
      state.reason = end.reason;
      state.message = end.message;
      resultOf = end.result;
      break;
    }
  } catch (err) {
    if (isCancellation(err)) {
      state.outcome = 'Cancelled';
      state.reason = 'Cancelled';
      state.message = 'the evaluation was cancelled';
    } else {
      const { reason, message } = failureText(err);
      state.outcome =
        reason === errorTypes.rejected ||
        reason === errorTypes.noCluster ||
        reason === errorTypes.quotaExceeded
          ? 'ConfigurationError'
          : 'InfrastructureError';
      state.reason = reason;
      state.message = message;
    }
  }

  return await CancellationScope.nonCancellable(async () => {
    setPhase('CleaningUp');
    const unfinished = pending === null ? undefined : state.attempts.find((a) => a.attempt === pending);
    if (unfinished !== undefined) {
      try {
        await spans.inPhase(() => finishAttempt(unfinished, false));
      } catch (err) {
        state.message = `${state.message ?? ''}; cleanup failed: ${failureText(err).message}`;
      }
    }
    await spans.inPhase(() => quota.release());
    state.finishedAt = nowIso();
    state.nextAttemptAt = null;
    const judged = withArtifactViolations(
      {
        outcome: state.outcome ?? 'InfrastructureError',
        reason: state.reason,
        message:
          outputsNote === null
            ? state.message
            : `${state.message ?? ''}${state.message ? '; ' : ''}${outputsNote}`,
      },
      outputs?.artifactsSummary,
    );
    state.outcome = judged.outcome;
    state.reason = judged.reason;
    state.message = judged.message;
    const last = current();
    const record: EvaluationOutput = {
      evaluationId: input.evaluationId,
      workflowId: info.workflowId,
      runId: info.runId,
      team: plan.team,
      user: plan.user,
      image: plan.image,
      cluster: state.cluster?.name ?? null,
      ...(state.cluster?.executor !== undefined ? { executor: state.cluster.executor } : {}),
      namespace: state.cluster?.namespace ?? null,
      security: state.cluster?.security ?? null,
      outcome: state.outcome ?? 'InfrastructureError',
      reason: state.reason,
      message: state.message,
      exitCode: last?.exitCode ?? null,
      attempts: state.attempts,
      // The collected result when one was found (null here when too large to inline: see resultInfo).
      result: outputs?.resultInfo != null ? (outputs.result as EvaluationOutput['result']) : resultOf,
      resultInfo: outputs?.resultInfo ?? null,
      artifacts: outputs?.artifacts ?? [],
      artifactsSummary: outputs?.artifactsSummary ?? null,
      timings: {
        submittedAt: input.submittedAt,
        startedAt: state.startedAt,
        finishedAt: state.finishedAt,
        ...quota.timings(),
      },
      cost: null,
      retentionUntil: new Date(Date.now() + plan.retentionDays * 86_400_000).toISOString(),
      recordKey: storageKeys.record(input.evaluationId),
      traceId: spans.traceId,
    };
    const written = await spans.inPhase(() => central.writeRecord(record));
    record.cost = written.cost ?? null;
    setPhase('Completed', [
      { key: searchAttributeKeys.outcome, value: record.outcome },
      ...(record.exitCode !== null ? [{ key: searchAttributeKeys.exitCode, value: record.exitCode }] : []),
      ...(record.cost?.currency === 'USD'
        ? [{ key: searchAttributeKeys.costUsd, value: record.cost.total }]
        : []),
    ]);
    if (written.overBudget != null) {
      const { month, budget, spent, currency } = written.overBudget;
      notifier.notify('overBudget', { budget: { month, budget, spent, currency } });
    }
    await notifier.finish(record.outcome);
    spans.finish({ outcome: record.outcome, failed: failedOutcomes.has(record.outcome) });
    return record;
  });
}

/** How each phase shows in the trace (src/workflows/tracing.ts); null: no span of its own. */
const phaseSpanNames: Record<Phase, string | null> = {
  Validating: null,
  SelectingCluster: 'select-cluster',
  Queued: 'queued',
  CreatingJob: 'create-job',
  Running: 'running',
  BackingOff: 'backing-off',
  CleaningUp: 'cleanup',
  Completed: null,
};

/** The outcomes a trace marks as failed, and which are kept whatever the sampling (src/telemetry/rescue.ts). */
const failedOutcomes: ReadonlySet<Outcome> = new Set<Outcome>(failureOutcomes);

/** The attempt's trace context for its pod, when the evaluation has one. */
function traceOf(spans: EvaluationSpans): { trace?: TraceCarrier } {
  const carrier = spans.carrier();
  return carrier !== null ? { trace: carrier } : {};
}
