/**
 * The contracts of notification webhooks (docs/notifications.md): the JSON body every endpoint receives, the event
 * the evaluation workflow hands to an endpoint's delivery workflow, and the delivery log that `assay notifications`
 * prints and `evaluations/<id>/notifications/<index>.json` holds. Pure (zod only): workflow code builds events.
 */
import { z } from 'zod';
import { outcomeSchema } from '../spec/record.js';
import { webhookEvents, type WebhookEvent } from '../spec/spec-constants.js';

const isoTimestamp = z.iso.datetime({ offset: true });

/** The event types, as the spec's `webhooks[].events` names them. Adding one: docs/notifications.md, "Events". */
export const webhookEventSchema = z.enum(webhookEvents);

/** What the body says about the evaluation: small, so the body stays far below 20 kB. */
export const webhookDataSchema = z
  .object({
    evaluationId: z.string().describe('The evaluation id.'),
    workflowId: z.string().describe('Temporal workflow id of the evaluation.'),
    team: z.string(),
    user: z.string(),
    phase: z.string().describe('The evaluation phase when the event happened.'),
    outcome: outcomeSchema.nullable().describe('The outcome; null until the evaluation has ended.'),
    reason: z
      .string()
      .nullable()
      .describe('Why it ended so (e.g. OOMKilled, DeadlineExceeded); null when unknown.'),
    exitCode: z.number().int().nullable().describe('Exit code of the main container of the last attempt.'),
    attempt: z.number().int().nonnegative().describe('The attempt (1-based); 0 before the first one.'),
    maxAttempts: z.number().int().positive(),
    nextAttemptAt: isoTimestamp.nullable().describe('For `retrying`: when the next attempt starts.'),
    recordKey: z
      .string()
      .describe('Object key of the evaluation record (written before any terminal event).'),
    webUiUrl: z
      .string()
      .nullable()
      .describe('The evaluation in the Temporal Web UI, when the operator set its URL.'),
    budget: z
      .object({
        month: z.string().describe('The calendar month (UTC), e.g. 2026-11.'),
        budget: z.number().describe("The team's monthly budget."),
        spent: z.number().describe("The team's spend this month, this evaluation included."),
        currency: z.string().nullable(),
      })
      .optional()
      .describe('Only on `overBudget`: the figures of the budget this evaluation went over.'),
  })
  .describe('The evaluation the event is about.');
export type WebhookData = z.infer<typeof webhookDataSchema>;

/** The JSON body of every webhook request (Standard Webhooks' thin payload: `type`, `timestamp`, `data`). */
export const webhookPayloadSchema = z
  .object({
    type: webhookEventSchema.describe('The event.'),
    timestamp: isoTimestamp.describe('When the event happened (not when this attempt was sent).'),
    data: webhookDataSchema,
  })
  .describe('Body of an Assay notification webhook request (POST, application/json).');
export type WebhookPayload = z.infer<typeof webhookPayloadSchema>;

/** The payload's JSON Schema (draft 2020-12), for receivers; committed as docs/notifications.schema.json. */
export function webhookPayloadJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(webhookPayloadSchema, { target: 'draft-2020-12', io: 'output' });
}

/** One event of one endpoint: the `webhook-id` (stable across retries) and the payload, less the link. */
export interface WebhookEventMessage {
  id: string;
  type: WebhookEvent;
  timestamp: string;
  data: Omit<WebhookData, 'webUiUrl'>;
}

/** The message id of an event: the same on every retry, so a receiver can deduplicate. */
export function webhookMessageId(evaluationId: string, event: WebhookEvent, attempt: number): string {
  return `msg_${evaluationId}_${event}_${attempt}`;
}

/** One `spec.webhooks[]` entry as the delivery needs it (the secret's value never travels, only its reference). */
export interface WebhookEndpoint {
  index: number;
  url: string;
  events: WebhookEvent[];
  secretRef: { name: string; key: string } | null;
}

/** What one delivery attempt came to. */
export const attemptOutcomes = [
  /** 2xx. */
  'delivered',
  /** 5xx, 408, 429, 3xx, a timeout or a connection error: tried again on the schedule. */
  'retry',
  /** 410 Gone: the endpoint is disabled for the rest of this evaluation. */
  'gone',
  /** Another 4xx: the receiver refuses the event; not retried. */
  'rejected',
  /** The SSRF guard refused the address, or http without permission: nothing was sent; not retried. */
  'refused',
  /** A configuration failure before sending (missing Secret, invalid secret): nothing was sent; not retried. */
  'failed',
] as const;
export type AttemptOutcome = (typeof attemptOutcomes)[number];

export const deliveryAttemptSchema = z.object({
  attempt: z.number().int().positive(),
  at: isoTimestamp,
  outcome: z.enum(attemptOutcomes),
  status: z.number().int().nullable(),
  latencyMs: z.number().nonnegative().nullable(),
  error: z.string().nullable(),
  /** The address the request went to (or the refused one). */
  address: z.string().nullable(),
});
export type DeliveryAttempt = z.infer<typeof deliveryAttemptSchema>;

/** Where an event's delivery stands. */
export const deliveryStates = [
  'pending',
  'delivered',
  /** Exhausted, rejected, refused or failed: kept as a dead letter. */
  'deadLetter',
  /** The endpoint answered 410 Gone to this event: it is disabled for the rest of the evaluation. */
  'disabled',
  /** Not sent: the endpoint answered 410 to an earlier event. */
  'skipped',
] as const;

export const eventDeliverySchema = z.object({
  id: z.string(),
  type: webhookEventSchema,
  timestamp: isoTimestamp,
  state: z.enum(deliveryStates),
  /** Why it is a dead letter or skipped. */
  reason: z.string().nullable(),
  attempts: z.array(deliveryAttemptSchema),
});
export type EventDelivery = z.infer<typeof eventDeliverySchema>;

/** The delivery log of one endpoint of one evaluation. */
export const deliveryLogSchema = z.object({
  evaluationId: z.string(),
  index: z.number().int().nonnegative(),
  url: z.string(),
  workflowId: z.string(),
  /** True once the endpoint answered 410. */
  disabled: z.boolean(),
  /** True once the last event is settled. */
  finished: z.boolean(),
  events: z.array(eventDeliverySchema),
});
export type DeliveryLog = z.infer<typeof deliveryLogSchema>;

/** Object key of the delivery log of endpoint `index` (under the evaluation's prefix, so retention removes it). */
export function deliveryLogKey(evaluationId: string, index: number): string {
  return `${deliveryLogPrefix(evaluationId)}${index}.json`;
}

/** The prefix of every delivery log of an evaluation. */
export function deliveryLogPrefix(evaluationId: string): string {
  return `evaluations/${evaluationId}/notifications/`;
}

/** Workflow id of the delivery workflow of endpoint `index`. */
export function deliveryWorkflowId(evaluationId: string, index: number): string {
  return `webhooks-${evaluationId}-${index}`;
}

/** Name of the delivery workflow's query that returns its {@link DeliveryLog}. */
export const deliveryLogQueryName = 'deliveries';
/** Name of the signal that hands a delivery workflow its next event. */
export const deliveryEventSignalName = 'event';

/** Where an event's tries run: the cluster's queue and the team namespace holding the Secret (null: none chosen). */
export interface DeliveryRoute {
  taskQueue: string | null;
  namespace: string | null;
}

/** What the evaluation hands its endpoint's delivery workflow: an event, or (message null) only the end. */
export interface DeliveryItem {
  message: WebhookEventMessage | null;
  route: DeliveryRoute;
  /** True: no event follows (the evaluation has ended). */
  last: boolean;
}
