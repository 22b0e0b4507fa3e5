/**
 * The Kubernetes executor: the port (`../port.ts`) over the existing Job, log and output activities (a Job per
 * attempt, its pod's logs through the API server, outputs through the collector sidecar); docs/architecture.md,
 * "The evaluation workflow" steps 4–8.
 */
import { createOutputActivities, type OutputActivityDeps } from '../../activities/artifacts.js';
import { createJobActivities, type JobActivityDeps } from '../../activities/jobs.js';
import { createLogActivities, type LogActivityDeps } from '../../activities/logs.js';
import { orNullOn404, type KubeClients } from '../../kube/clients.js';
import { attemptJobName } from '../../spec/names.js';
import type { AttemptExecutor } from '../port.js';

export interface KubernetesExecutorDeps {
  readonly kube: KubeClients;
  readonly jobs: Omit<JobActivityDeps, 'kube'>;
  readonly logs: Omit<LogActivityDeps, 'kube'>;
  readonly outputs: Omit<OutputActivityDeps, 'kube'>;
}

export function createKubernetesExecutor(deps: KubernetesExecutorDeps): AttemptExecutor {
  const jobs = createJobActivities({ kube: deps.kube, ...deps.jobs });
  const logs = createLogActivities({ kube: deps.kube, ...deps.logs });
  const outputs = createOutputActivities({ kube: deps.kube, ...deps.outputs });
  return {
    kind: 'kubernetes',
    create: (request) => jobs.createJob(request),
    awaitEnd: (input) => jobs.awaitAttempt(input),
    storeLogs: (input) => logs.storeAttemptLogs(input),
    collect: (input) => outputs.collectOutputs(input),
    delete: (ref) => jobs.cleanupAttempt(ref),
    async describe(ref) {
      const name = attemptJobName(ref.evaluationId, ref.attempt);
      const job = await orNullOn404(deps.kube.batch.readNamespacedJob({ name, namespace: ref.namespace }));
      if (job === null)
        return { executor: 'kubernetes', name: null, state: 'absent', exitCode: null, labels: {} };
      const status = job.status;
      const state =
        (status?.succeeded ?? 0) > 0
          ? 'succeeded'
          : (status?.failed ?? 0) > 0
            ? 'failed'
            : (status?.active ?? 0) > 0
              ? 'running'
              : 'created';
      return { executor: 'kubernetes', name, state, exitCode: null, labels: job.metadata?.labels ?? {} };
    },
  };
}
