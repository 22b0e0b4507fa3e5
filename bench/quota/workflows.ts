/**
 * The workflow bundle of `bench/quota.ts`: the team quota workflow, and a stand-in for an evaluation that holds its
 * reservation only until it is granted, then releases it at once — so the bench measures the quota workflow alone.
 */
import { condition, getExternalWorkflowHandle, setHandler } from '@temporalio/workflow';
import { quotaWorkflowId } from '../../src/spec/quota.js';
import { quotaGrantedSignal, releaseSignal } from '../../src/workflows/quota.js';

export { teamQuota } from '../../src/workflows/quota.js';

export async function quotaBenchHolder(team: string, evaluationId: string): Promise<void> {
  let granted = false;
  setHandler(quotaGrantedSignal, () => {
    granted = true;
  });
  await condition(() => granted);
  await getExternalWorkflowHandle(quotaWorkflowId(team)).signal(releaseSignal, { evaluationId });
}
