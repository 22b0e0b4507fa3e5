/**
 * `previousScheduledRun` (docs/schedules.md, "Only if the previous run succeeded"): the schedule's latest batch or
 * evaluation before a slot, from Temporal visibility (`AssaySchedule`), with its `AssayOutcome`.
 */
import { Context } from '@temporalio/activity';
import { batchWorkflowType } from '../spec/evaluation-batch-run.js';
import { evaluationWorkflowType } from '../spec/names.js';
import type { PreviousRun, ScheduleActivities } from '../spec/schedule.js';
import { scheduleNameSchema } from '../spec/schedule.js';
import { searchAttributeKeys } from '../spec/search-attribute-keys.js';

export function createScheduleActivities(): ScheduleActivities {
  return {
    async previousScheduledRun(input) {
      const schedule = scheduleNameSchema.parse(input.schedule);
      const type = input.kind === 'batch' ? batchWorkflowType : evaluationWorkflowType;
      const prefix = input.kind === 'batch' ? 'batch-' : 'eval-';
      const client = Context.current().client;
      let best: PreviousRun | null = null;
      for await (const info of client.workflow.list({
        query: `WorkflowType = '${type}' AND AssaySchedule = '${schedule}'`,
        pageSize: 1000,
      })) {
        const id = info.workflowId.slice(prefix.length);
        // Stamps have one length, so ids of one schedule sort like their times.
        if (id >= input.before || (best !== null && id <= best.id)) continue;
        const ended = info.closeTime !== undefined;
        best = {
          id,
          outcome: ended
            ? (info.typedSearchAttributes.get(searchAttributeKeys.outcome) ?? info.status.name)
            : null,
        };
      }
      return best;
    },
  };
}
