/**
 * `scheduledRun` (docs/schedules.md): the action of every Assay schedule. It derives the id of its batch (or
 * evaluation) from the slot's scheduled time (`TemporalScheduledStartTime`), so a slot run twice finds its id taken
 * and starts nothing; with `onlyIfPreviousSucceeded` it first looks up the schedule's previous run and skips when that
 * did not succeed. It waits for what it started and fails when that did not succeed, so the schedule's
 * pause-on-failure and overlap policies see the batch's outcome.
 */
import {
  ApplicationFailure,
  ParentClosePolicy,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import {
  SearchAttributeType,
  WorkflowExecutionAlreadyStartedError,
  WorkflowIdReusePolicy,
  defineSearchAttributeKey,
} from '@temporalio/common';
import { batchDecoration, batchStartAttributes } from '../spec/batch-start.js';
import { batchSize, batchWorkflowId } from '../spec/evaluation-batch.js';
import { batchWorkflowType, type BatchInput, type BatchResult } from '../spec/evaluation-batch-run.js';
import type { EvaluationJob } from '../spec/evaluation-job-schema.js';
import { evaluationWorkflowId, evaluationWorkflowType } from '../spec/names.js';
import type { EvaluationInput, EvaluationOutput } from '../spec/record.js';
import {
  scheduledRunId,
  type ScheduleActivities,
  type ScheduledRunInput,
  type ScheduledRunResult,
} from '../spec/schedule.js';
import { searchAttributeKeys } from '../spec/search-attribute-keys.js';

const scheduledStartTime = defineSearchAttributeKey(
  'TemporalScheduledStartTime',
  SearchAttributeType.DATETIME,
);

const { previousScheduledRun } = proxyActivities<ScheduleActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumInterval: '30 seconds', maximumAttempts: 10 },
});

export async function scheduledRun(input: ScheduledRunInput): Promise<ScheduledRunResult> {
  const info = workflowInfo();
  const at = info.typedSearchAttributes.get(scheduledStartTime) ?? info.startTime;
  const id = scheduledRunId(input.schedule, at);
  const base = { scheduledAt: at.toISOString(), id };
  if (input.onlyIfPreviousSucceeded) {
    const previous = await previousScheduledRun({
      schedule: input.schedule,
      kind: input.target.kind,
      before: id,
    });
    if (previous !== null && previous.outcome !== 'Succeeded') {
      return {
        ...base,
        started: false,
        skipped: `the previous run ${previous.id} ${previous.outcome === null ? 'is still running' : `ended ${previous.outcome}`}`,
        outcome: null,
      };
    }
  }
  const common = {
    taskQueue: info.taskQueue,
    parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
  } as const;
  let outcome: string;
  try {
    if (input.target.kind === 'batch') {
      const batch = input.target.batch;
      const batchInput: BatchInput = {
        batchId: id,
        batch,
        schedule: input.schedule,
        submittedAt: new Date().toISOString(),
      };
      const handle = await startChild<(i: BatchInput) => Promise<BatchResult>>(batchWorkflowType, {
        ...common,
        workflowId: batchWorkflowId(id),
        args: [batchInput],
        typedSearchAttributes: batchStartAttributes(batch, id, input.schedule),
        ...batchDecoration({ batch, batchId: id, size: batchSize(batch) }),
      });
      outcome = (await handle.result()).outcome;
    } else {
      const job = input.target.job as unknown as EvaluationJob;
      const spec = job.spec;
      const evaluationInput: EvaluationInput = {
        evaluationId: id,
        spec: { ...job, metadata: { ...job.metadata, name: id } } as unknown as EvaluationInput['spec'],
        submittedAt: new Date().toISOString(),
      };
      const handle = await startChild<(i: EvaluationInput) => Promise<EvaluationOutput>>(
        evaluationWorkflowType,
        {
          ...common,
          workflowId: evaluationWorkflowId(id),
          args: [evaluationInput],
          typedSearchAttributes: [
            { key: searchAttributeKeys.team, value: spec.team },
            { key: searchAttributeKeys.user, value: spec.user },
            { key: searchAttributeKeys.image, value: spec.image },
            { key: searchAttributeKeys.priority, value: spec.priority },
            { key: searchAttributeKeys.phase, value: 'Validating' },
            { key: searchAttributeKeys.schedule, value: input.schedule },
          ],
          staticSummary: `schedule ${input.schedule} at ${at.toISOString()}: ${spec.team}/${spec.user}: ${spec.image}`,
        },
      );
      outcome = (await handle.result()).outcome;
    }
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      return { ...base, started: false, skipped: `${id} already ran for this slot`, outcome: null };
    }
    throw err;
  }
  if (outcome !== 'Succeeded') {
    // A failed action is what the schedule's pause-on-failure reacts to.
    throw ApplicationFailure.create({
      type: 'ScheduledRunFailed',
      message: `${id} ended ${outcome}`,
      nonRetryable: true,
      details: [{ ...base, started: true, skipped: null, outcome }],
    });
  }
  return { ...base, started: true, skipped: null, outcome };
}
