/**
 * The input an evaluation was started with, read from the first event of its history. The spec travels through
 * history once, as that input; the record written to storage and the record `AssayClient.result` returns join it back.
 */
import type { Client } from '@temporalio/client';
import { evaluationInputSchema, type EvaluationInput } from '../spec/record.js';

export interface ExecutionRef {
  readonly workflowId: string;
  /** The run; the latest run of the id when omitted. */
  readonly runId?: string;
}

/**
 * @returns the validated input, or null when the history has no readable input (not an evaluation).
 * @throws the client's error when the execution does not exist (e.g. `NOT_FOUND`).
 */
export async function startInputOf(client: Client, execution: ExecutionRef): Promise<EvaluationInput | null> {
  // One event is all we need: ask for a page of one instead of the whole history.
  const page = await client.workflowService.getWorkflowExecutionHistory({
    namespace: client.options.namespace,
    execution: { workflowId: execution.workflowId, ...(execution.runId ? { runId: execution.runId } : {}) },
    maximumPageSize: 1,
  });
  const payload = page.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (payload == null) return null;
  const parsed = evaluationInputSchema.safeParse(
    client.options.loadedDataConverter.payloadConverter.fromPayload(payload),
  );
  return parsed.success ? parsed.data : null;
}
