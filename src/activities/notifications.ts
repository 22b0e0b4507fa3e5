/**
 * Notification webhook activities (docs/notifications.md). `deliverWebhook` runs on the cluster's queue: the worker
 * holding the cluster's credentials reads the signing Secret from the team namespace, signs and sends in the same
 * activity, so the secret is never an activity argument or result (never in history) and never logged. Where no
 * cluster was chosen (the evaluation ended before), it runs on the workflow queue without Kubernetes access, so an
 * endpoint with a `secretRef` fails there with a clear reason. `notificationPolicy` and `storeDeliveryLog` are the
 * delivery workflow's central (local) activities.
 */
import { addDeadLettersToRecord, deadLettersOf } from '../notifications/record-dead-letters.js';
import { Context } from '@temporalio/activity';
import { z } from 'zod';
import { orNullOn404, type KubeClients } from '../kube/clients.js';
import {
  deliveryLogKey,
  deliveryLogSchema,
  type AttemptOutcome,
  type DeliveryLog,
} from '../notifications/payload.js';
import { notificationMetrics } from '../notifications/metrics.js';
import { retryAfterSeconds, sendWebhook, type Resolve, type SendResult } from '../notifications/sender.js';
import { parseSigningSecrets, signWebhook, WebhookSecretError } from '../notifications/signing.js';
import type { NotificationsConfig } from '../spec/notifications-config.js';
import type { ObjectStore } from '../storage/object-store.js';

export const deliverWebhookInputSchema = z.object({
  evaluationId: z.string().min(1),
  index: z.number().int().nonnegative(),
  /** The try of this event (1-based). */
  attempt: z.number().int().positive(),
  url: z.string().min(1),
  /** The team namespace the Secret is read from; null when no cluster was chosen. */
  namespace: z.string().min(1).nullable(),
  secretRef: z.object({ name: z.string().min(1), key: z.string().min(1) }).nullable(),
  messageId: z.string().min(1),
  /** The JSON body, the same on every try. */
  body: z.string().min(2).max(20_000),
});
export type DeliverWebhookInput = z.infer<typeof deliverWebhookInputSchema>;

export interface DeliverWebhookResult {
  outcome: AttemptOutcome;
  at: string;
  status: number | null;
  latencyMs: number | null;
  error: string | null;
  address: string | null;
  /** What the receiver's `Retry-After` asked for, in seconds. */
  retryAfterSeconds: number | null;
}

export interface NotificationPolicy {
  retrySchedule: number[];
  maxRetryAfterSeconds: number;
  webUiUrl: string | null;
  temporalNamespace: string;
  /** The request timeout the senders apply (the same worker config, so the activity's timeout can cover it). */
  timeoutSeconds: number;
}

export interface WebhookDeliveryActivities {
  /** One try of one event to one endpoint. Never throws for what the receiver or the network does. */
  deliverWebhook(input: DeliverWebhookInput): Promise<DeliverWebhookResult>;
}

export interface NotificationCentralActivities {
  /** The schedule and link base the delivery workflow keeps in its history. */
  notificationPolicy(): Promise<NotificationPolicy>;
  /** Writes `evaluations/<id>/notifications/<index>.json`; counts the dead letters that are new. Idempotent. */
  storeDeliveryLog(input: { log: DeliveryLog; newDeadLetters: { type: string }[] }): Promise<{ key: string }>;
}

/** What a response status means for the delivery (docs/notifications.md, "Retries"). */
export function outcomeOfStatus(status: number): AttemptOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 410) return 'gone';
  if (status === 408 || status === 429) return 'retry';
  if (status >= 400 && status < 500) return 'rejected';
  return 'retry';
}

function resultOf(sent: SendResult, at: string): DeliverWebhookResult {
  switch (sent.kind) {
    case 'refused':
      return {
        outcome: 'refused',
        at,
        status: null,
        latencyMs: null,
        error: sent.reason,
        address: sent.address,
        retryAfterSeconds: null,
      };
    case 'unresolved':
      return {
        outcome: 'retry',
        at,
        status: null,
        latencyMs: null,
        error: sent.reason,
        address: null,
        retryAfterSeconds: null,
      };
    case 'error':
      return {
        outcome: 'retry',
        at,
        status: null,
        latencyMs: sent.latencyMs,
        error: sent.reason,
        address: sent.address,
        retryAfterSeconds: null,
      };
    case 'response':
      return {
        outcome: outcomeOfStatus(sent.status),
        at,
        status: sent.status,
        latencyMs: sent.latencyMs,
        error: sent.status >= 200 && sent.status < 300 ? null : `HTTP ${sent.status}`,
        address: sent.address,
        retryAfterSeconds: retryAfterSeconds(sent.retryAfter),
      };
  }
}

export interface WebhookDeliveryDeps {
  /** Kubernetes clients of the cluster whose team namespaces hold the Secrets; null on the workflow queue. */
  readonly kube: KubeClients | null;
  readonly policy: NotificationsConfig;
  /** Test hook: the resolver the SSRF guard uses. */
  readonly resolve?: Resolve;
  readonly now?: () => Date;
}

/** Reads the signing keys; a string is the reason nothing can be signed (the secret's value never is in it). */
async function signingKeys(
  deps: WebhookDeliveryDeps,
  input: DeliverWebhookInput,
): Promise<Buffer[] | string> {
  const ref = input.secretRef;
  if (ref === null) return [];
  if (deps.kube === null || input.namespace === null) {
    return `secret ${ref.name} cannot be read: no cluster was chosen for the evaluation`;
  }
  const where = `${input.namespace}/${ref.name}`;
  let secret;
  try {
    secret = await orNullOn404(
      deps.kube.core.readNamespacedSecret({ name: ref.name, namespace: input.namespace }),
    );
  } catch (err) {
    return `Secret ${where} cannot be read: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`;
  }
  if (secret === null) return `Secret ${where} not found`;
  const encoded = secret.data?.[ref.key];
  if (encoded === undefined) return `Secret ${where} has no key "${ref.key}"`;
  try {
    return parseSigningSecrets(Buffer.from(encoded, 'base64').toString('utf8'));
  } catch (err) {
    if (err instanceof WebhookSecretError) return `Secret ${where} key "${ref.key}": ${err.message}`;
    throw err;
  }
}

export function createWebhookDeliveryActivities(deps: WebhookDeliveryDeps): WebhookDeliveryActivities {
  const now = deps.now ?? (() => new Date());
  return {
    async deliverWebhook(raw) {
      const input = deliverWebhookInputSchema.parse(raw);
      const log = Context.current().log;
      const keys = await signingKeys(deps, input);
      let result: DeliverWebhookResult;
      const at = now();
      if (typeof keys === 'string') {
        result = {
          outcome: 'failed',
          at: at.toISOString(),
          status: null,
          latencyMs: null,
          error: keys,
          address: null,
          retryAfterSeconds: null,
        };
      } else {
        const headers = signWebhook(keys, {
          id: input.messageId,
          timestamp: at.getTime() / 1000,
          body: input.body,
        });
        const sent = await sendWebhook(
          { url: input.url, headers: { ...headers }, body: input.body },
          deps.policy,
          deps.resolve,
        );
        result = resultOf(sent, at.toISOString());
      }
      notificationMetrics.attempt(result.outcome);
      // The URL's origin only: a path or query may carry a token the receiver put there.
      const origin = URL.canParse(input.url) ? new URL(input.url).origin : '(invalid URL)';
      log.info('webhook delivery try', {
        webhook: input.index,
        messageId: input.messageId,
        try: input.attempt,
        origin,
        outcome: result.outcome,
        status: result.status,
        latencyMs: result.latencyMs,
        error: result.error,
      });
      return result;
    },
  };
}

export function createNotificationCentralActivities(deps: {
  store: ObjectStore;
  policy: NotificationsConfig;
  temporalNamespace: string;
}): NotificationCentralActivities {
  return {
    notificationPolicy() {
      return Promise.resolve({
        retrySchedule: [...deps.policy.retrySchedule],
        maxRetryAfterSeconds: deps.policy.maxRetryAfterSeconds,
        webUiUrl: deps.policy.webUiUrl,
        temporalNamespace: deps.temporalNamespace,
        timeoutSeconds: deps.policy.timeoutSeconds,
      });
    },
    async storeDeliveryLog({ log, newDeadLetters }) {
      const parsed = deliveryLogSchema.parse(log);
      const key = deliveryLogKey(parsed.evaluationId, parsed.index);
      await deps.store.put(key, `${JSON.stringify(parsed, null, 2)}\n`, { contentType: 'application/json' });
      // Counted once the log saying so is stored; a retried write may count twice, which a counter tolerates.
      for (const letter of newDeadLetters) notificationMetrics.deadLetter(letter.type);
      if (newDeadLetters.length > 0) {
        // Into the record too, if it exists; if not, the record activity takes it from this log when it writes it.
        await addDeadLettersToRecord(deps.store, parsed.evaluationId, deadLettersOf(parsed));
        Context.current().log.warn('webhook dead letter', {
          webhook: parsed.index,
          events: newDeadLetters.map((l) => l.type),
        });
      }
      return { key };
    },
  };
}
