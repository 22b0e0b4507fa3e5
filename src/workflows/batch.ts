/**
 * The `batch` workflow (docs/batches.md): runs the evaluations of an EvaluationBatch as child workflows with
 * deterministic ids (`eval-<batch>-<index>`), at most `maxConcurrent` at once (a sliding window: a slot that frees
 * starts the next entry), stops on the first failure with `failFast`, re-runs failed entries `retryFailed` times,
 * and writes the summary at the end.
 *
 * History stays bounded: each run starts at most `childrenPerRun` children (three events each, plus workflow tasks),
 * then drains its window and continues as new with the counters. Children never outlive the run that started them,
 * so the next run owns no handle it cannot await. Cancelling the batch cancels its running children (their
 * evaluations record `Cancelled`), and the summary is still written.
 */
import {
  CancellationScope,
  ParentClosePolicy,
  condition,
  continueAsNew,
  defineQuery,
  isCancellation,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import {
  batchSize,
  batchEvaluationId,
  entryValues,
  expandEntry,
  type ParsedBatch,
} from '../spec/evaluation-batch.js';
import {
  batchProgressQueryName,
  batchStorageKeys,
  type BatchActivities,
  type BatchCarried,
  type BatchInput,
  type BatchOutcome,
  type BatchProgress,
  type BatchResult,
} from '../spec/evaluation-batch-run.js';
import type { EvaluationInput, EvaluationOutput } from '../spec/record.js';
import { evaluationWorkflowId, evaluationWorkflowType } from '../spec/names.js';
import { evaluationStartAttributes, searchAttributeKeys } from '../spec/search-attribute-keys.js';
import { storageKeys } from '../spec/storage-keys.js';

export const batchProgressQuery = defineQuery<BatchProgress>(batchProgressQueryName);

/** Children per run before continue-as-new: about 2,300 events per run (measured, docs/batches.md). */
export const defaultChildrenPerRun = 500;
/**
 * Children started in one workflow task at most: each needs its entry expanded and validated, and 500 at once took
 * longer than the workflow task timeout on a loaded machine. The next burst follows when these have started.
 */
export const startsPerTask = 50;

const { writeBatchSummary } = proxyActivities<BatchActivities>({
  startToCloseTimeout: '15 minutes',
  retry: { initialInterval: '2 seconds', maximumInterval: '1 minute', maximumAttempts: 20 },
});

interface Running {
  readonly index: number;
  readonly retry: number;
}

export async function batch(input: BatchInput): Promise<BatchResult> {
  const info = workflowInfo();
  const parsed: ParsedBatch = { batch: input.batch, batchId: input.batchId, size: batchSize(input.batch) };
  const { maxConcurrent, failFast, retryFailed } = input.batch.spec;
  const perRun = input.childrenPerRun ?? defaultChildrenPerRun;
  const state: BatchCarried = input.carried ?? {
    next: 0,
    rerun: [],
    retries: [],
    counts: { succeeded: 0, failed: 0, cancelled: 0 },
    stopped: false,
    runs: 1,
  };
  const retries = new Map(state.retries);
  const running = new Map<string, Running>();
  let phase: BatchProgress['phase'] = state.stopped ? 'Stopping' : 'Running';
  let cancelled = false;

  const progress = (): BatchProgress => ({
    batchId: input.batchId,
    phase,
    total: parsed.size,
    running: running.size,
    queued: state.stopped ? 0 : parsed.size - state.next + state.rerun.length,
    ...state.counts,
    run: state.runs,
  });
  setHandler(batchProgressQuery, progress);
  const describe = (): void => {
    const p = progress();
    setCurrentDetails(
      [
        `**Phase:** ${p.phase}`,
        `**Evaluations:** ${p.total} — ${p.succeeded} succeeded, ${p.failed} failed, ${p.cancelled} cancelled, ` +
          `${p.running} running, ${p.queued} queued`,
        `**Window:** ${maxConcurrent}${failFast ? ', fail-fast' : ''}${retryFailed > 0 ? `, ${retryFailed} re-runs` : ''}`,
        `**Run:** ${p.run} (continue-as-new every ${perRun} children)`,
        `**Summary:** \`${batchStorageKeys.summaryJson(input.batchId)}\``,
      ].join('\n\n'),
    );
  };
  describe();

  // Every child runs in this scope: fail-fast cancels it; cancelling the batch cancels it as the root's child.
  const children = new CancellationScope();
  let startedThisRun = 0;
  /** Children whose start command has not been answered yet. */
  let pendingStarts = 0;

  const start = (index: number, retry: number): void => {
    const evaluationId = batchEvaluationId(input.batchId, index, retry);
    const key = `${index}/${retry}`;
    running.set(key, { index, retry });
    startedThisRun++;
    pendingStarts++;
    void children
      .run(async () => runChild(index, retry, evaluationId))
      .then(
        (outcome) => settle(index, retry, outcome),
        (err: unknown) => settle(index, retry, isCancellation(err) ? 'Cancelled' : 'Failed'),
      )
      .finally(() => {
        running.delete(key);
        describe();
      });
  };

  const runChild = async (index: number, retry: number, evaluationId: string): Promise<string> => {
    const job = expandEntry(parsed, index, retry);
    if (!job.ok) {
      pendingStarts--;
      return 'Failed';
    }
    const spec = job.value.spec;
    const values = entryValues(input.batch, index);
    const childInput: EvaluationInput = {
      evaluationId,
      spec: JSON.parse(JSON.stringify(job.value)) as EvaluationInput['spec'],
      submittedAt: new Date().toISOString(),
    };
    const described = Object.entries(values)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ');
    const handle = await startChild<(i: EvaluationInput) => Promise<EvaluationOutput>>(
      evaluationWorkflowType,
      {
        workflowId: evaluationWorkflowId(evaluationId),
        taskQueue: info.taskQueue,
        args: [childInput],
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: [
          ...evaluationStartAttributes(spec),
          { key: searchAttributeKeys.batch, value: input.batchId },
          ...(input.schedule !== null ? [{ key: searchAttributeKeys.schedule, value: input.schedule }] : []),
        ],
        staticSummary: `batch ${input.batchId} #${index}${retry > 0 ? ` (re-run ${retry})` : ''}: ${described}`,
        staticDetails: [
          `**Evaluation** \`${evaluationId}\` of batch \`${input.batchId}\`, entry ${index}`,
          `**Values:** ${described}`,
          `**Team / user:** ${spec.team} / ${spec.user}`,
          `**Image:** \`${spec.image}\``,
          `**Record:** \`${storageKeys.record(evaluationId)}\``,
        ].join('\n\n'),
      },
    ).finally(() => pendingStarts--);
    const output = await handle.result();
    return output.outcome;
  };

  const settle = (index: number, retry: number, outcome: string): void => {
    if (outcome === 'Succeeded') {
      state.counts.succeeded++;
      return;
    }
    if (outcome === 'Cancelled' && (cancelled || state.stopped)) {
      state.counts.cancelled++;
      return;
    }
    if (retry < retryFailed && !state.stopped && !cancelled) {
      retries.set(index, retry + 1);
      state.rerun.push([index, retry + 1]);
      return;
    }
    if (outcome === 'Cancelled') state.counts.cancelled++;
    else state.counts.failed++;
    if (failFast && !state.stopped) {
      state.stopped = true;
      phase = 'Stopping';
      children.cancel();
    }
  };

  const hasWork = (): boolean => !state.stopped && (state.rerun.length > 0 || state.next < parsed.size);

  try {
    const canStart = (): boolean => hasWork() && running.size < maxConcurrent && startedThisRun < perRun;
    for (;;) {
      for (let burst = 0; burst < startsPerTask && canStart(); burst++) {
        const again = state.rerun.shift();
        if (again !== undefined) start(again[0], again[1]);
        else start(state.next++, 0);
      }
      describe();
      if (running.size === 0) {
        if (!hasWork()) break;
        // This run has started its share and drained its window: hand the counters to a fresh history.
        state.retries = [...retries];
        state.runs++;
        await continueAsNew<typeof batch>({ ...input, carried: state });
      }
      const before = running.size;
      await condition(() => running.size < before || (pendingStarts === 0 && canStart()));
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    cancelled = true;
    phase = 'Stopping';
    describe();
    // The children's scope is cancelled with the root: wait for them to record their cancellation.
    await CancellationScope.nonCancellable(() => condition(() => running.size === 0));
  }

  return await CancellationScope.nonCancellable(async () => {
    phase = 'Summarising';
    describe();
    const outcome: BatchOutcome = cancelled
      ? 'Cancelled'
      : state.counts.failed > 0 || state.counts.cancelled > 0 || state.stopped
        ? 'Failed'
        : 'Succeeded';
    const started = state.next;
    const written = await writeBatchSummary({
      batchId: input.batchId,
      batch: input.batch,
      outcome,
      started,
      retries: [...retries],
    });
    phase = 'Completed';
    describe();
    upsertSearchAttributes([{ key: searchAttributeKeys.outcome, value: outcome }]);
    return {
      batchId: input.batchId,
      outcome,
      total: parsed.size,
      counts: state.counts,
      notStarted: parsed.size - started,
      summaryKey: written.summaryKey,
      csvKey: written.csvKey,
    };
  });
}
