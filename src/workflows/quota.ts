/**
 * The per-team quota workflow `quota-<team>` (docs/quota.md, "The quota workflow"): one long-lived workflow per team,
 * started on demand by the reserve activity with update-with-start. The `reserve` update answers at once — granted,
 * queued with a position, or refused — so no update waits inside the workflow (Temporal allows only a few in flight);
 * a queued evaluation's grant arrives later by the `quotaGranted` signal. `release` gives a reservation or queue entry
 * back. A checker verifies every `holderCheckSeconds` that the evaluations holding a reservation still run, and
 * reclaims the slots of those that closed without releasing (terminated from outside). The workflow continues as new
 * before its history grows large, carrying every holder and queued entry.
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  defineUpdate,
  getExternalWorkflowHandle,
  proxyActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type { QuotaActivities } from '../activities/quota.js';
import { errorTypes } from '../spec/error-types.js';
import { neverFits, planAdmissions, usageOf, type Holder, type QueueEntry } from '../quota/admission.js';
import {
  quotaGrantedSignalName,
  quotaQueryName,
  releaseSignalName,
  reserveUpdateName,
  type QuotaGrant,
  type QuotaSnapshot,
  type ReleaseRequest,
  type ReserveAnswer,
  type ReserveRequest,
  type TeamQuotaInput,
} from '../spec/quota.js';

export const reserveUpdate = defineUpdate<ReserveAnswer, [ReserveRequest]>(reserveUpdateName);
export const releaseSignal = defineSignal<[ReleaseRequest]>(releaseSignalName);
export const quotaGrantedSignal = defineSignal<[QuotaGrant]>(quotaGrantedSignalName);
export const quotaQuery = defineQuery<QuotaSnapshot>(quotaQueryName);

/** How many queued entries (first in order) the checker verifies besides the holders. */
const checkedQueueEntries = 20;

const { checkQuotaHolders } = proxyActivities<QuotaActivities>({
  startToCloseTimeout: '1 minute',
  retry: { maximumAttempts: 3, initialInterval: '1 second' },
});

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Runs the quota of one team until it continues as new. */
export async function teamQuota(input: TeamQuotaInput): Promise<void> {
  let policy = input.policy;
  let fairness = input.fairness;
  const carried = input.state;
  let holders: Holder[] = carried?.holders ?? [];
  let queue: QueueEntry[] = carried?.queue ?? [];
  let seq = carried?.seq ?? 0;
  let admissions = carried?.admissions ?? 0;
  const generation = carried?.generation ?? 0;
  /** Admitted, not yet told (the grant signal is sent by the main loop); a new run sends what the last one did not. */
  const ungranted = new Set(carried?.ungranted ?? []);
  let toGrant: Holder[] = holders.filter((h) => ungranted.has(h.evaluationId));
  let waiting = new Map<string, { position: number; waitingFor: string }>();
  let dirty = true;

  /** Runs the admission policy now: admitted entries become holders; the waiting map is refreshed. */
  const admit = (): void => {
    const now = Date.now();
    const plan = planAdmissions(policy, holders, queue, now, fairness);
    if (plan.admit.length > 0) {
      const admitted = new Set(plan.admit.map((e) => e.evaluationId));
      queue = queue.filter((e) => !admitted.has(e.evaluationId));
      const granted = plan.admit.map((e) => ({ ...e, admittedAt: now }));
      holders.push(...granted);
      toGrant.push(...granted);
      admissions += granted.length;
    }
    waiting = plan.waiting;
  };

  const remove = (evaluationIds: ReadonlySet<string>): void => {
    if (evaluationIds.size === 0) return;
    holders = holders.filter((h) => !evaluationIds.has(h.evaluationId));
    queue = queue.filter((e) => !evaluationIds.has(e.evaluationId));
    toGrant = toGrant.filter((h) => !evaluationIds.has(h.evaluationId));
    dirty = true;
  };

  /**
   * True once the history is long enough to continue as new (it stays true: a run's history only grows). Reserves
   * are then refused by the validator (which writes nothing to the history) and sent again by the reserve activity,
   * so a burst of them cannot keep the run from continuing — each accepted update would be new history and a reason
   * for the server to refuse the continue-as-new until the run had taken it in.
   */
  const historyFull = (): boolean =>
    workflowInfo().historyLength >= input.maxHistoryEvents || workflowInfo().continueAsNewSuggested;

  setHandler(
    reserveUpdate,
    (request): ReserveAnswer => {
      policy = request.policy;
      fairness = request.fairness;
      const held = holders.find((h) => h.evaluationId === request.evaluationId);
      // A retried reserve: answer as the first time.
      if (held !== undefined) return { status: 'granted', admittedAt: iso(held.admittedAt) };
      let entry = queue.find((e) => e.evaluationId === request.evaluationId);
      if (entry === undefined) {
        const refusal = neverFits(policy, request.user, request.demand);
        if (refusal !== null) return { status: 'refused', reason: refusal };
        entry = {
          evaluationId: request.evaluationId,
          workflowId: request.workflowId,
          user: request.user,
          priority: request.priority,
          demand: request.demand,
          queuedAt: Date.now(),
          seq: seq++,
        };
        queue.push(entry);
      }
      admit();
      // Wakes the main loop, which also decides on continue-as-new: a long run of reserves alone grows the history.
      dirty = true;
      const now = holders.find((h) => h.evaluationId === request.evaluationId);
      if (now !== undefined) {
        // Answered here: no signal needed.
        toGrant = toGrant.filter((h) => h.evaluationId !== request.evaluationId);
        return { status: 'granted', admittedAt: iso(now.admittedAt) };
      }
      const place = waiting.get(request.evaluationId);
      return {
        status: 'queued',
        position: place?.position ?? queue.length,
        waitingFor: place?.waitingFor ?? 'waiting',
        queuedAt: iso(entry.queuedAt),
      };
    },
    {
      validator: (_request: ReserveRequest): void => {
        if (historyFull()) {
          throw ApplicationFailure.create({
            type: errorTypes.quotaContinuing,
            message: 'the quota workflow is continuing as new: send the reserve again',
          });
        }
      },
    },
  );

  setHandler(releaseSignal, ({ evaluationId }) => remove(new Set([evaluationId])));

  setHandler(quotaQuery, (): QuotaSnapshot => {
    const positions = waiting;
    return {
      team: input.team,
      policy,
      fairness,
      inUse: usageOf(holders),
      admissions,
      generation,
      holders,
      queue: queue
        .map((e) => ({
          ...e,
          position: positions.get(e.evaluationId)?.position ?? queue.length,
          waitingFor: positions.get(e.evaluationId)?.waitingFor ?? 'waiting',
        }))
        .sort((a, b) => a.position - b.position),
    };
  });

  /**
   * Every `holderCheckSeconds` while anything is held or queued: drop the holders (and the first queued entries)
   * whose evaluation workflow has closed, take the current policy, and re-plan (aging and starvation depend on time).
   */
  const checker = async (): Promise<never> => {
    for (;;) {
      await condition(() => holders.length > 0 || queue.length > 0);
      await sleep(input.holderCheckSeconds * 1000);
      const firstQueued = [...waiting.entries()]
        .sort((a, b) => a[1].position - b[1].position)
        .slice(0, checkedQueueEntries)
        .map(([id]) => queue.find((e) => e.evaluationId === id))
        .filter((e): e is QueueEntry => e !== undefined);
      const checked = [...holders, ...firstQueued];
      if (checked.length > 0) {
        try {
          const report = await checkQuotaHolders({
            team: input.team,
            workflowIds: checked.map((h) => h.workflowId),
          });
          const gone = new Set(report.closed);
          remove(new Set(checked.filter((h) => gone.has(h.workflowId)).map((h) => h.evaluationId)));
          if (report.policy !== null) policy = report.policy;
          fairness = report.fairness;
        } catch {
          // The next round tries again; a failed check reclaims nothing.
        }
      }
      dirty = true;
    }
  };
  void checker();

  for (;;) {
    // A full history alone wakes the loop too: a refused reserve changes no state, yet the run must move on.
    await condition(() => dirty || historyFull());
    dirty = false;
    admit();
    // Tell the admitted; an evaluation that cannot be signalled has closed: its slot is free again.
    while (toGrant.length > 0) {
      const batch = toGrant;
      toGrant = [];
      const results = await Promise.allSettled(
        batch.map((h) =>
          getExternalWorkflowHandle(h.workflowId).signal(quotaGrantedSignal, {
            admittedAt: iso(h.admittedAt),
          }),
        ),
      );
      const closed = new Set(
        batch.filter((_, i) => results[i]?.status === 'rejected').map((h) => h.evaluationId),
      );
      if (closed.size > 0) {
        remove(closed);
        admit();
      }
    }
    if (historyFull()) {
      await condition(allHandlersFinished);
      // Whatever arrived while the handlers finished is part of the state carried over, grants not yet sent included:
      // under a steady stream of releases there is always a grant to send, so waiting for none would never end.
      admit();
      await continueAsNew<typeof teamQuota>({
        ...input,
        policy,
        fairness,
        state: {
          holders,
          queue,
          seq,
          admissions,
          generation: generation + 1,
          ungranted: toGrant.map((h) => h.evaluationId),
        },
      });
    }
  }
}
