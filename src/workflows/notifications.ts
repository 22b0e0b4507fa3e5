/**
 * The `webhookDelivery` workflow (docs/notifications.md, "Delivery"): one per webhook endpoint of an evaluation, id
 * `webhooks-<evaluationId>-<index>`, started by the evaluation as an abandoned child with its first event; later
 * events arrive by signal. Events are delivered one after the other in the order they happened, each tried on the
 * retry schedule until it is delivered, refused or exhausted, so a slow or dead receiver delays only its own
 * endpoint, never the evaluation, and outlives it.
 */
import {
  condition,
  defineQuery,
  defineSignal,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  DeliverWebhookResult,
  NotificationCentralActivities,
  WebhookDeliveryActivities,
} from '../activities/notifications.js';
import {
  deliveryEventSignalName,
  deliveryLogQueryName,
  deliveryWorkflowId,
  type DeliveryItem,
  type DeliveryLog,
  type EventDelivery,
  type WebhookEndpoint,
  type WebhookPayload,
} from '../notifications/payload.js';

export const deliveryEventSignal = defineSignal<[DeliveryItem]>(deliveryEventSignalName);
export const deliveryLogQuery = defineQuery<DeliveryLog>(deliveryLogQueryName);

export interface WebhookDeliveryInput {
  evaluationId: string;
  endpoint: WebhookEndpoint;
  first: DeliveryItem;
}

/** How long an endpoint waits for the evaluation's next event before it gives up (an evaluation terminated). */
const idleLimit = '30 days';

function failureMessage(err: unknown): string {
  if (err instanceof Error) {
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${err.message}${cause}`;
  }
  return String(err);
}

/** Delivers one endpoint's events in order; returns its delivery log (also stored, and answered by a query). */
export async function webhookDelivery(input: WebhookDeliveryInput): Promise<DeliveryLog> {
  const { evaluationId, endpoint } = input;
  const queue: DeliveryItem[] = [];
  let closed = false;
  const take = (item: DeliveryItem): void => {
    if (item.message !== null) queue.push(item);
    if (item.last) closed = true;
  };
  take(input.first);
  setHandler(deliveryEventSignal, take);
  const log: DeliveryLog = {
    evaluationId,
    index: endpoint.index,
    url: endpoint.url,
    workflowId: workflowInfo().workflowId || deliveryWorkflowId(evaluationId, endpoint.index),
    disabled: false,
    finished: false,
    events: [],
  };
  setHandler(deliveryLogQuery, () => log);

  const central = proxyLocalActivities<NotificationCentralActivities>({
    startToCloseTimeout: '1 minute',
    localRetryThreshold: '10 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
  });
  const policy = await central.notificationPolicy();
  const schedule = policy.retrySchedule.length > 0 ? policy.retrySchedule : [0];
  const store = async (newDeadLetters: EventDelivery[]): Promise<void> => {
    await central.storeDeliveryLog({ log, newDeadLetters: newDeadLetters.map((e) => ({ type: e.type })) });
  };

  for (;;) {
    const more = await condition(() => queue.length > 0 || closed, idleLimit);
    if (!more || queue.length === 0) break;
    const item = queue.shift();
    if (item?.message == null) continue;
    const message = item.message;
    const entry: EventDelivery = {
      id: message.id,
      type: message.type,
      timestamp: message.timestamp,
      state: 'pending',
      reason: null,
      attempts: [],
    };
    log.events.push(entry);
    if (log.disabled) {
      entry.state = 'skipped';
      entry.reason = 'the endpoint answered 410 Gone to an earlier event';
      await store([]);
      continue;
    }
    const payload: WebhookPayload = {
      type: message.type,
      timestamp: message.timestamp,
      data: {
        ...message.data,
        webUiUrl:
          policy.webUiUrl === null
            ? null
            : `${policy.webUiUrl.replace(/\/+$/, '')}/namespaces/${encodeURIComponent(policy.temporalNamespace)}/workflows/${encodeURIComponent(message.data.workflowId)}`,
      },
    };
    const body = JSON.stringify(payload);
    const sender = proxyActivities<WebhookDeliveryActivities>({
      taskQueue: item.route.taskQueue ?? workflowInfo().taskQueue,
      // A dead cluster worker costs this try, not the endpoint: the schedule goes on.
      scheduleToStartTimeout: '10 minutes',
      startToCloseTimeout: `${policy.timeoutSeconds + 30} seconds`,
      retry: { initialInterval: '1 second', maximumAttempts: 3 },
    });
    let retryAfter = 0;
    for (let i = 0; i < schedule.length && entry.state === 'pending'; i++) {
      const delay = Math.max(schedule[i] ?? 0, i === 0 ? 0 : retryAfter);
      if (delay > 0) await sleep(Math.round(delay * 1000));
      let result: DeliverWebhookResult;
      try {
        result = await sender.deliverWebhook({
          evaluationId,
          index: endpoint.index,
          attempt: i + 1,
          url: endpoint.url,
          namespace: item.route.namespace,
          secretRef: endpoint.secretRef,
          messageId: message.id,
          body,
        });
      } catch (err) {
        result = {
          outcome: 'retry',
          at: new Date().toISOString(),
          status: null,
          latencyMs: null,
          error: `the delivery try did not run: ${failureMessage(err)}`,
          address: null,
          retryAfterSeconds: null,
        };
      }
      entry.attempts.push({
        attempt: i + 1,
        at: result.at,
        outcome: result.outcome,
        status: result.status,
        latencyMs: result.latencyMs,
        error: result.error,
        address: result.address,
      });
      switch (result.outcome) {
        case 'delivered':
          entry.state = 'delivered';
          break;
        case 'gone':
          entry.state = 'disabled';
          entry.reason = 'the endpoint answered 410 Gone: disabled for the rest of this evaluation';
          log.disabled = true;
          break;
        case 'rejected':
        case 'refused':
        case 'failed':
          entry.state = 'deadLetter';
          entry.reason = `${result.outcome}: ${result.error ?? 'no reason given'}`;
          break;
        case 'retry':
          retryAfter = Math.min(result.retryAfterSeconds ?? 0, policy.maxRetryAfterSeconds);
          break;
      }
    }
    if (entry.state === 'pending') {
      entry.state = 'deadLetter';
      const last = entry.attempts[entry.attempts.length - 1];
      entry.reason = `exhausted after ${entry.attempts.length} tries; last: ${last?.error ?? 'unknown'}`;
    }
    if (queue.length === 0 && closed) log.finished = true;
    await store(entry.state === 'deadLetter' ? [entry] : []);
  }
  if (!log.finished) {
    log.finished = true;
    await store([]);
  }
  return log;
}
