/**
 * The evaluation workflow's side of quota (docs/architecture.md, "The evaluation workflow", step 3; docs/quota.md):
 * reserve before the first Job (phase `Queued` while waiting for the grant), hold the reservation across attempts and
 * back-offs, release it in the non-cancellable cleanup. Kept out of `evaluation.ts` so that file only has the hooks.
 */
import {
  ApplicationFailure,
  condition,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
} from '@temporalio/workflow';
import type { QuotaActivities } from '../activities/quota.js';
import type { EvaluationPlan } from '../spec/plan.js';
import type { ReserveResult } from '../spec/quota.js';
import { errorTypes } from '../spec/error-types.js';
import { quotaGrantedSignal, releaseSignal } from './quota.js';


/**
 * A regular activity, not a local one: the update waits for the quota workflow's own workflow task, which a busy worker
 * may take a while to run, and a long local activity would hold the evaluation's workflow task open meanwhile.
 */
const { reserveQuota } = proxyActivities<QuotaActivities>({
  startToCloseTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: [errorTypes.invalidSpec],
  },
});

/** What the status query and the record show of the evaluation's place in its team's queue. */
export interface QuotaView {
  queuePosition: number | null;
  queue: { workflowId: string; position: number; waitingFor: string; queuedAt: string } | null;
}

export interface QuotaHook {
  /**
   * Reserves the plan's resources; while queued the phase is `Queued`, and this resolves with the grant.
   * @throws ApplicationFailure `QuotaExceeded` (not retryable) when the evaluation can never fit its team's quota.
   */
  reserve(limited: boolean, enterQueued: () => void): Promise<void>;
  /** Gives the reservation (or the queue entry) back; never throws. Call from non-cancellable cleanup. */
  release(): Promise<void>;
  view(): QuotaView;
  timings(): { queuedAt?: string; admittedAt?: string; queueWaitSeconds?: number };
}

export function createQuotaHook(evaluationId: string, workflowId: string, plan: EvaluationPlan): QuotaHook {
  let granted: string | null = null;
  let queued: { workflowId: string; position: number; waitingFor: string; queuedAt: string } | null = null;
  /** Set once a reserve was asked for a limited team (or the answer never came): release then. */
  let quotaWorkflow: string | null = null;
  let released = false;
  setHandler(quotaGrantedSignal, ({ admittedAt }) => {
    granted ??= admittedAt;
  });
  return {
    async reserve(limited, enterQueued) {
      // A team without a quota reserves nothing: no activity, no event in the history.
      if (!limited) return;
      let answer: ReserveResult;
      try {
        answer = await reserveQuota({
          team: plan.team,
          user: plan.user,
          evaluationId,
          workflowId,
          priority: plan.priority,
          resources: plan.resources,
        });
      } catch (err) {
        // The answer may have been given before a cancellation reached us: release what may be held.
        quotaWorkflow = `quota-${plan.team}`;
        throw err;
      }
      if (answer.status === 'unlimited') return;
      quotaWorkflow = answer.quotaWorkflowId;
      if (answer.status === 'refused') {
        throw ApplicationFailure.create({
          type: errorTypes.quotaExceeded,
          nonRetryable: true,
          message: `the evaluation can never run under team ${plan.team}'s quota: ${answer.reason}`,
        });
      }
      if (answer.status === 'granted') {
        granted = answer.admittedAt;
        return;
      }
      queued = {
        workflowId: answer.quotaWorkflowId,
        position: answer.position,
        waitingFor: answer.waitingFor,
        queuedAt: answer.queuedAt,
      };
      enterQueued();
      await condition(() => granted !== null);
    },
    async release() {
      if (quotaWorkflow === null || released) return;
      released = true;
      try {
        await getExternalWorkflowHandle(quotaWorkflow).signal(releaseSignal, { evaluationId });
      } catch {
        // No quota workflow (never started, or gone): nothing is held there.
      }
    },
    view() {
      const waiting = queued !== null && granted === null;
      return { queuePosition: waiting ? queued!.position : null, queue: waiting ? queued : null };
    },
    timings() {
      if (queued === null) return granted === null ? {} : { admittedAt: granted };
      return {
        queuedAt: queued.queuedAt,
        ...(granted !== null
          ? {
              admittedAt: granted,
              queueWaitSeconds: Math.max(0, (Date.parse(granted) - Date.parse(queued.queuedAt)) / 1000),
            }
          : {}),
      };
    },
  };
}
