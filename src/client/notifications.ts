/**
 * Reads an evaluation's webhook deliveries (docs/notifications.md, "Inspecting deliveries"): the endpoints come from
 * the evaluation's spec (its workflow input, or the stored record once Temporal has forgotten it); each endpoint's
 * delivery log from its delivery workflow while that runs (a query), else from `evaluations/<id>/notifications/<i>.json`.
 */
import type { Client } from '@temporalio/client';
import {
  deliveryLogKey,
  deliveryLogQueryName,
  deliveryLogSchema,
  deliveryWorkflowId,
  type DeliveryLog,
  type WebhookEndpoint,
} from '../notifications/payload.js';
import { evaluationWorkflowId } from '../spec/names.js';
import { storageKeys } from '../spec/storage-keys.js';
import { orNullIfNotFound, type ObjectStore } from '../storage/index.js';
import { webhookEndpointsOf } from '../notifications/endpoints.js';
import { EvaluationNotFoundError } from './assay-client.js';
import { startInputOf } from './start-input.js';

/** One endpoint and what is known of its deliveries (null: no event was handed to it yet). */
export interface EndpointDeliveries {
  endpoint: WebhookEndpoint;
  log: DeliveryLog | null;
  /** Where the log came from. */
  source: 'workflow' | 'storage' | null;
}

async function specOf(client: Client, store: ObjectStore, evaluationId: string): Promise<unknown> {
  try {
    const input = await startInputOf(client, { workflowId: evaluationWorkflowId(evaluationId) });
    if (input !== null) return input.spec;
  } catch {
    // Not in Temporal (any more): the stored record holds the spec.
  }
  const bytes = await orNullIfNotFound(store.getBytes(storageKeys.record(evaluationId)));
  if (bytes === null) throw new EvaluationNotFoundError(evaluationId);
  return (JSON.parse(bytes.toString('utf8')) as { spec?: unknown }).spec;
}

/** The log of a delivery workflow that is still running, or null. */
async function liveLog(client: Client, evaluationId: string, index: number): Promise<DeliveryLog | null> {
  const handle = client.workflow.getHandle(deliveryWorkflowId(evaluationId, index));
  try {
    const described = await handle.describe();
    if (described.status.name !== 'RUNNING') return null;
    return deliveryLogSchema.parse(await handle.query(deliveryLogQueryName));
  } catch {
    return null;
  }
}

/**
 * @throws {EvaluationNotFoundError} when neither Temporal nor object storage knows the evaluation.
 * @throws {ZodError} when a stored log is not one.
 */
export async function readDeliveries(
  client: Client,
  store: ObjectStore,
  evaluationId: string,
): Promise<EndpointDeliveries[]> {
  const endpoints = webhookEndpointsOf(await specOf(client, store, evaluationId));
  return Promise.all(
    endpoints.map(async (endpoint): Promise<EndpointDeliveries> => {
      const live = await liveLog(client, evaluationId, endpoint.index);
      if (live !== null) return { endpoint, log: live, source: 'workflow' };
      const bytes = await orNullIfNotFound(store.getBytes(deliveryLogKey(evaluationId, endpoint.index)));
      if (bytes === null) return { endpoint, log: null, source: null };
      return {
        endpoint,
        log: deliveryLogSchema.parse(JSON.parse(bytes.toString('utf8'))),
        source: 'storage',
      };
    }),
  );
}
