/**
 * The janitor's activities (docs/kubernetes.md, "The janitor"): one sweep of the cluster this worker serves, on the
 * cluster's task queue (`janitorSweep`, logic in `src/janitor/sweep.ts`), and one sweep of the object store's
 * multipart uploads, on the workflow queue (`janitorSweepUploads`, logic in `src/janitor/uploads.ts`). These adapters
 * give the logic its clients and ask Temporal about each evaluation's workflow.
 */
import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import type { KubeClients } from '../kube/clients.js';
import { sweepCluster, type SweepReport, type WorkflowState } from '../janitor/sweep.js';
import { sweepUploads, type UploadSweepReport } from '../janitor/uploads.js';
import { evaluationWorkflowId } from '../spec/names.js';
import { evaluationsRoot } from '../spec/storage-keys.js';
import type { ObjectStore } from '../storage/object-store.js';

/** What both sweeps take: report only, and how old a thing must be to count. */
const sweepInputSchema = z.object({
  dryRun: z.boolean(),
  minAgeSeconds: z.number().int().nonnegative().optional(),
});

export const janitorSweepInputSchema = sweepInputSchema.extend({
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

/** What became of evaluation `evaluationId`'s workflow, from a describe of `eval-<id>`. */
function workflowStateFrom(temporal: Client): (evaluationId: string) => Promise<WorkflowState> {
  return async (evaluationId) => {
    try {
      const info = await temporal.workflow.getHandle(evaluationWorkflowId(evaluationId)).describe();
      return info.status.name === 'RUNNING'
        ? { state: 'running' }
        : { state: 'closed', status: info.status.name, closedAt: info.closeTime ?? null };
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return { state: 'missing' };
      throw err;
    }
  };
}

export function createJanitorActivities(deps: JanitorActivityDeps): JanitorActivities {
  const workflowState = workflowStateFrom(deps.temporal);
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

export const janitorUploadSweepInputSchema = sweepInputSchema.extend({
  /** Only uploads under this prefix (tests); `evaluations/` by default. */
  prefix: z.string().startsWith(evaluationsRoot).optional(),
});
export type JanitorUploadSweepInput = z.infer<typeof janitorUploadSweepInputSchema>;

export interface JanitorUploadActivities {
  janitorSweepUploads(input: JanitorUploadSweepInput): Promise<UploadSweepReport>;
}

/** The upload sweep, on the workflow queue: the object store is one for every cluster. */
export function createJanitorUploadActivities(deps: {
  readonly store: ObjectStore;
  readonly temporal: Client;
}): JanitorUploadActivities {
  const workflowState = workflowStateFrom(deps.temporal);
  return {
    async janitorSweepUploads(raw) {
      const input = janitorUploadSweepInputSchema.parse(raw);
      const ctx = Context.current();
      return await sweepUploads(
        {
          dryRun: input.dryRun,
          ...(input.minAgeSeconds !== undefined ? { minAgeSeconds: input.minAgeSeconds } : {}),
          ...(input.prefix !== undefined ? { prefix: input.prefix } : {}),
        },
        { store: deps.store, workflowState, log: ctx.log, signal: ctx.cancellationSignal },
      );
    },
  };
}
