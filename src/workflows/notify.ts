/**
 * The evaluation workflow's side of notification webhooks (docs/notifications.md, "Delivery"): `notify(event)` hands
 * the event to the delivery workflow of every endpoint that subscribes to it — the first event starts that workflow
 * as an abandoned child (`webhooks-<evaluationId>-<index>`), later ones are signals — and returns at once. The hand-
 * overs of one endpoint are chained, so its events reach it in order; `finish` hands over the terminal event and
 * waits only for the hand-overs (milliseconds), never for a delivery.
 */
import {
  CancellationScope,
  ParentClosePolicy,
  getExternalWorkflowHandle,
  log,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import {
  deliveryWorkflowId,
  webhookMessageId,
  type DeliveryItem,
  type DeliveryRoute,
  type WebhookData,
  type WebhookEndpoint,
  type WebhookEventMessage,
} from '../notifications/payload.js';
import type { Outcome } from '../spec/record.js';
import type { WebhookEvent } from '../spec/spec-constants.js';
import { webhookEndpointsOf } from '../notifications/endpoints.js';
import { storageKeys } from '../spec/storage-keys.js';
import { deliveryEventSignal, webhookDelivery } from './notifications.js';

/** The evaluation's state an event reports. */
export interface NotifyState {
  phase: string;
  outcome: Outcome | null;
  reason: string | null;
  exitCode: number | null;
  attempt: number;
  nextAttemptAt: string | null;
}

const eventOfOutcome: Record<Outcome, WebhookEvent> = {
  Succeeded: 'succeeded',
  Failed: 'failed',
  TimedOut: 'timedOut',
  Cancelled: 'cancelled',
  ConfigurationError: 'configurationError',
  InfrastructureError: 'infrastructureError',
};

/** The terminal event of an outcome. */
export function terminalEventOf(outcome: Outcome): WebhookEvent {
  return eventOfOutcome[outcome];
}

export interface Notifier {
  /** Where later events' tries run, once the cluster is chosen. */
  route(route: DeliveryRoute): void;
  /** Hands `event` to every endpoint that subscribes to it; does not wait. `extra` joins the event's data. */
  notify(event: WebhookEvent, extra?: Pick<WebhookData, 'budget'>): void;
  /** Hands over the terminal event of `outcome` (and the end to every endpoint already started); waits for the hand-overs. */
  finish(outcome: Outcome): Promise<void>;
}

/** A notifier for the evaluation `input`; `state` is read when an event happens. */
export function createNotifier(options: {
  evaluationId: string;
  spec: unknown;
  team: string;
  user: string;
  maxAttempts: number;
  state: () => NotifyState;
}): Notifier {
  const endpoints = webhookEndpointsOf(options.spec);
  const info = workflowInfo();
  let route: DeliveryRoute = { taskQueue: null, namespace: null };
  /** Per endpoint: the chain of hand-overs, and whether its delivery workflow was started. */
  const chains = new Map<number, Promise<void>>();
  const started = new Set<number>();

  const handOver = (endpoint: WebhookEndpoint, item: DeliveryItem): void => {
    const id = deliveryWorkflowId(options.evaluationId, endpoint.index);
    const first = !started.has(endpoint.index);
    started.add(endpoint.index);
    const previous = chains.get(endpoint.index) ?? Promise.resolve();
    const next = previous.then(() =>
      // Not cancellable: a cancelled evaluation still tells its endpoints (`cancelled`).
      CancellationScope.nonCancellable(async () => {
        if (first) {
          try {
            await startChild(webhookDelivery, {
              workflowId: id,
              taskQueue: info.taskQueue,
              args: [{ evaluationId: options.evaluationId, endpoint, first: item }],
              parentClosePolicy: ParentClosePolicy.ABANDON,
            });
            return;
          } catch (err) {
            // Started already (e.g. by an earlier run of this evaluation): hand the event over as a signal.
            log.warn('webhook delivery workflow not started; signalling it', {
              workflowId: id,
              error: String(err),
            });
          }
        }
        await getExternalWorkflowHandle(id).signal(deliveryEventSignal, item);
      }).catch((err: unknown) => {
        // Never the evaluation's failure: the endpoint misses the event, and the worker log says so.
        log.warn('webhook event not handed over', { workflowId: id, error: String(err) });
      }),
    );
    chains.set(endpoint.index, next);
  };

  const message = (event: WebhookEvent, extra: Pick<WebhookData, 'budget'>): WebhookEventMessage => {
    const s = options.state();
    return {
      id: webhookMessageId(options.evaluationId, event, s.attempt),
      type: event,
      timestamp: new Date().toISOString(),
      data: {
        evaluationId: options.evaluationId,
        workflowId: info.workflowId,
        team: options.team,
        user: options.user,
        phase: s.phase,
        outcome: s.outcome,
        reason: s.reason,
        exitCode: s.exitCode,
        attempt: s.attempt,
        maxAttempts: options.maxAttempts,
        nextAttemptAt: s.nextAttemptAt,
        recordKey: storageKeys.record(options.evaluationId),
        ...extra,
      },
    };
  };

  const notify = (event: WebhookEvent, last: boolean, extra: Pick<WebhookData, 'budget'> = {}): void => {
    const subscribed = endpoints.filter((e) => e.events.includes(event));
    if (subscribed.length === 0) return;
    const item: DeliveryItem = { message: message(event, extra), route, last };
    for (const endpoint of subscribed) handOver(endpoint, item);
  };

  return {
    route(next) {
      route = next;
    },
    notify(event, extra) {
      notify(event, false, extra);
    },
    async finish(outcome) {
      const event = terminalEventOf(outcome);
      notify(event, true);
      for (const endpoint of endpoints) {
        if (started.has(endpoint.index) && !endpoint.events.includes(event)) {
          handOver(endpoint, { message: null, route, last: true });
        }
      }
      await Promise.all(chains.values());
    },
  };
}
