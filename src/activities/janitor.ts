/**
 * The janitor's activity (docs/kubernetes.md, "The janitor"): one sweep of the cluster this worker serves, on the
 * cluster's task queue. The logic is `src/janitor/sweep.ts`; this adapter gives it the cluster's clients and asks
 * Temporal about each evaluation's workflow.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { KubeClients } from '../kube/clients.js';
import { sweepCluster, type SweepReport, type WorkflowState } from '../janitor/sweep.js';
import { evaluationWorkflowId } from '../spec/names.js';

export const janitorSweepInputSchema = z.object({
  dryRun: z.boolean(),
  minAgeSeconds: z.number().int().nonnegative().optional(),
  namespace: z.string().min(1).optional(),
});
export type JanitorSweepInput = z.infer<typeof janitorSweepInputSchema>;

export interface JanitorActivities {
  janitorSweep(input: JanitorSweepInput): Promise<SweepReport>;
}

export interface JanitorActivityDeps {
  readonly kube: KubeClients;
  readonly temporal: Client;
}

export function createJanitorActivities(deps: JanitorActivityDeps): JanitorActivities {
  async function workflowState(evaluationId: string): Promise<WorkflowState> {
    try {
      const info = await deps.temporal.workflow.getHandle(evaluationWorkflowId(evaluationId)).describe();
      return info.status.name === 'RUNNING'
        ? { state: 'running' }
        : { state: 'closed', status: info.status.name, closedAt: info.closeTime ?? null };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { state: 'missing' };
      throw err;
    }
  }
  return {
    async janitorSweep(raw) {
      const input = janitorSweepInputSchema.parse(raw);
      const log = Context.current().log;
      return await sweepCluster(
        {
          dryRun: input.dryRun,
          ...(input.minAgeSeconds !== undefined ? { minAgeSeconds: input.minAgeSeconds } : {}),
          ...(input.namespace !== undefined ? { namespace: input.namespace } : {}),
        },
        { kube: deps.kube, workflowState, log },
      );
    },
  };
}
