/**
 * Quota activities on the workflow task queue (docs/quota.md): `reserveQuota`, which the evaluation workflow calls
 * before it creates a Job — an update-with-start of its team's quota workflow carrying the team's current policy — and
 * `checkQuotaHolders`, which the quota workflow calls to find holders whose evaluation has closed without releasing.
 */
import { ApplicationFailure } from '@temporalio/common';
import {
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
} from '@temporalio/client';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import pLimit, { type LimitFunction } from 'p-limit';
import type { teamQuota } from '../workflows/quota.js';
import { demandOf } from '../quota/admission.js';
import {
  quotaWorkflowId,
  quotaWorkflowType,
  reserveQuotaInputSchema,
  reserveUpdateName,
  type ReserveAnswer,
  type ReserveRequest,
  type ReserveResult,
  type TeamQuotaInput,
} from '../spec/quota.js';
import { teamQuotaOf, type QuotasConfig } from '../spec/quota-config.js';
import { errorTypes } from '../spec/error-types.js';

export interface QuotaCheckReport {
  /** Workflow ids (of those asked about) whose execution is closed or unknown. */
  closed: string[];
  /** The team's policy as the config says now; null when the team is no longer limited. */
  policy: TeamQuotaInput['policy'] | null;
  fairness: TeamQuotaInput['fairness'];
}

export interface QuotaActivities {
  /**
   * Reserves the evaluation's resources in its team's quota; answers at once.
   * @throws ApplicationFailure `InvalidSpec` (not retryable) when the input is malformed.
   */
  reserveQuota(input: unknown): Promise<ReserveResult>;
  checkQuotaHolders(input: { team: string; workflowIds: string[] }): Promise<QuotaCheckReport>;
}

export interface QuotaActivityDeps {
  readonly client: Client;
  readonly quotas: QuotasConfig;
  /** The workflow task queue the quota workflows run on. */
  readonly taskQueue: string;
  /** Continue-as-new threshold of the quota workflow (history events). */
  readonly maxHistoryEvents?: number;
  /**
   * Reserve updates this process keeps in flight per quota workflow (default 4). Temporal aborts updates beyond its
   * per-workflow limit (`history.maxInFlightUpdates`, 10 by default) and the activity then retries with back-off, so a
   * burst of reserves waits here, in order, instead of being aborted and retried seconds later.
   */
  readonly reservesInFlight?: number;
}

const continuingRetryMs = 100;

/** True for the refusal of a quota workflow run that is continuing as new: the reserve is to be sent again. */
export function isContinuingRefusal(err: unknown): boolean {
  return (
    err instanceof WorkflowUpdateFailedError &&
    err.cause instanceof ApplicationFailure &&
    err.cause.type === errorTypes.quotaContinuing
  );
}

export function createQuotaActivities(deps: QuotaActivityDeps): QuotaActivities {
  const fairness = {
    agingSeconds: deps.quotas.agingSeconds,
    starvationSeconds: deps.quotas.starvationSeconds,
  };
  const inFlight = new Map<string, LimitFunction>();
  const limiterOf = (workflowId: string): LimitFunction => {
    let limit = inFlight.get(workflowId);
    if (limit === undefined) {
      limit = pLimit(deps.reservesInFlight ?? 4);
      inFlight.set(workflowId, limit);
    }
    return limit;
  };
  return {
    async reserveQuota(raw) {
      const parsed = reserveQuotaInputSchema.safeParse(raw);
      if (!parsed.success) {
        throw ApplicationFailure.create({
          type: errorTypes.invalidSpec,
          nonRetryable: true,
          message: parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; '),
        });
      }
      const input = parsed.data;
      const policy = teamQuotaOf(deps.quotas, input.team);
      if (policy === null) return { status: 'unlimited' };
      const workflowId = quotaWorkflowId(input.team);
      const request: ReserveRequest = {
        evaluationId: input.evaluationId,
        workflowId: input.workflowId,
        user: input.user,
        priority: input.priority,
        demand: demandOf(input.resources),
        policy,
        fairness,
      };
      const start: TeamQuotaInput = {
        team: input.team,
        policy,
        fairness,
        holderCheckSeconds: deps.quotas.holderCheckSeconds,
        maxHistoryEvents: deps.maxHistoryEvents ?? 2000,
        state: null,
      };
      const limit = limiterOf(workflowId);
      const reserve = (): Promise<ReserveAnswer> =>
        deps.client.workflow.executeUpdateWithStart<typeof teamQuota, ReserveAnswer, [ReserveRequest]>(
          reserveUpdateName,
          {
            args: [request],
            startWorkflowOperation: new WithStartWorkflowOperation<typeof teamQuota>(quotaWorkflowType, {
              workflowId,
              taskQueue: deps.taskQueue,
              args: [start],
              workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
            }),
          },
        );
      const answer = await limit(async () => {
        // A run about to continue as new refuses reserves without recording them: send again, to the next run.
        for (;;) {
          try {
            return await reserve();
          } catch (err) {
            if (!isContinuingRefusal(err)) throw err;
            await sleep(continuingRetryMs);
          }
        }
      }).finally(() => {
        if (limit.activeCount === 0 && limit.pendingCount === 0) inFlight.delete(workflowId);
      });
      return { ...answer, quotaWorkflowId: workflowId };
    },

    async checkQuotaHolders({ team, workflowIds }) {
      const closed: string[] = [];
      await Promise.all(
        workflowIds.map(async (id) => {
          try {
            const info = await deps.client.workflow.getHandle(id).describe();
            if (info.status.name !== 'RUNNING') closed.push(id);
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) closed.push(id);
            else throw err;
          }
        }),
      );
      return { closed, policy: teamQuotaOf(deps.quotas, team), fairness };
    },
  };
}
