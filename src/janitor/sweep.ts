/**
 * The janitor's sweep of one cluster (docs/kubernetes.md, "The janitor"): finds what a crash or a manual action left
 * behind and fixes it, each fix logged and counted (`assay_janitor_fixes_total{kind,mode}`):
 *
 * - `job`: a Job labelled by Assay whose evaluation workflow is closed or gone → deleted (its pods with it);
 * - `pod-finalizer`: a pod holding the capture finalizer `assay.dev/capture` whose workflow is closed or gone → the
 *   finalizer removed (and a pod still running deleted);
 * - `network-policy`: an attempt's egress NetworkPolicy whose workflow is closed or gone → deleted;
 * - `evaluation-job-status`: an EvaluationJob whose status says running while its workflow is closed (terminated
 *   from outside) → its status set to what happened.
 *
 * A 404 from a delete or patch means the object is already gone: the fix is done. Only objects older than
 * `minAgeSeconds` count, so nothing a starting evaluation is creating right now is touched.
 * `dryRun` reports and counts (mode `dry-run`) without changing anything.
 *
 * @packageDocumentation
 */
import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type V1ObjectMeta,
  type V1Pod,
} from '@kubernetes/client-node';
import { Counter, register } from 'prom-client';
import { apiClient, apiStatus, orNullOn404, type KubeClients } from '../kube/clients.js';
import { captureFinalizer, labelKeys, managedByValue } from '../spec/kube-labels.js';
import {
  evaluationJobGroup,
  evaluationJobPlural,
  evaluationJobVersion,
  isFinished,
  statusFromProgress,
  type EvaluationJobResource,
} from '../controller/resource.js';
import { storageKeys } from '../spec/storage-keys.js';

export type FixKind = 'job' | 'pod-finalizer' | 'network-policy' | 'evaluation-job-status';

/** What became of one evaluation's workflow: running, closed (with Temporal's status name) or never existed. */
export type WorkflowState =
  | { readonly state: 'running' }
  | { readonly state: 'closed'; readonly status: string; readonly closedAt: Date | null }
  | { readonly state: 'missing' };

export interface SweepOptions {
  readonly dryRun: boolean;
  /** Objects younger than this are left alone (default 300 s). */
  readonly minAgeSeconds?: number;
  /** Only this namespace (tests); every namespace by default. */
  readonly namespace?: string;
}

export interface SweepDeps {
  readonly kube: KubeClients;
  /** The state of evaluation `evaluationId`'s workflow (describe `eval-<id>`). */
  workflowState(evaluationId: string): Promise<WorkflowState>;
  readonly log: {
    info(message: string, attrs?: Record<string, unknown>): void;
    warn(message: string, attrs?: Record<string, unknown>): void;
  };
  readonly now?: () => Date;
}

export interface SweepFix {
  readonly kind: FixKind;
  readonly namespace: string;
  readonly name: string;
  readonly evaluationId: string;
  readonly workflow: string;
}

export interface SweepReport {
  readonly dryRun: boolean;
  readonly fixes: SweepFix[];
  /** Fixes that failed (they are tried again by the next sweep). */
  readonly errors: string[];
}

/** `assay_janitor_fixes_total{kind,mode}`, shared by the cluster sweep and the upload sweep (`./uploads.ts`). */
export function janitorFixCounter(): Counter {
  const name = 'assay_janitor_fixes_total';
  const existing = register.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name,
    help: 'What the janitor fixed (mode fixed) or would have fixed (mode dry-run), by kind',
    labelNames: ['kind', 'mode'],
  });
}

const isNotFound = (err: unknown): boolean => apiStatus(err) === 404;

export async function sweepCluster(options: SweepOptions, deps: SweepDeps): Promise<SweepReport> {
  const { core, batch, networking } = deps.kube;
  const now = (deps.now ?? (() => new Date()))();
  const minAgeMs = (options.minAgeSeconds ?? 300) * 1000;
  const selector = `${labelKeys.managedBy}=${managedByValue},${labelKeys.evaluationId}`;
  const counter = janitorFixCounter();
  const fixes: SweepFix[] = [];
  const errors: string[] = [];
  const states = new Map<string, Promise<WorkflowState>>();
  const stateOf = (id: string): Promise<WorkflowState> => {
    let s = states.get(id);
    if (s === undefined) {
      s = deps.workflowState(id);
      states.set(id, s);
    }
    return s;
  };
  const oldEnough = (meta: V1ObjectMeta | undefined): boolean => {
    const created = meta?.creationTimestamp;
    return created !== undefined && now.getTime() - new Date(created).getTime() >= minAgeMs;
  };
  /** The evaluation of a labelled object, when its workflow is closed or missing; else null. */
  const abandoned = async (
    meta: V1ObjectMeta | undefined,
  ): Promise<{ id: string; workflow: string } | null> => {
    const id = meta?.labels?.[labelKeys.evaluationId];
    if (id === undefined || !oldEnough(meta)) return null;
    const state = await stateOf(id);
    if (state.state === 'running') return null;
    return { id, workflow: state.state === 'missing' ? 'missing' : state.status };
  };
  async function fix(
    kind: FixKind,
    meta: V1ObjectMeta,
    owner: { id: string; workflow: string },
    act: () => Promise<void>,
  ): Promise<void> {
    const entry: SweepFix = {
      kind,
      namespace: meta.namespace ?? '',
      name: meta.name ?? '',
      evaluationId: owner.id,
      workflow: owner.workflow,
    };
    try {
      if (!options.dryRun) await act();
      fixes.push(entry);
      counter.inc({ kind, mode: options.dryRun ? 'dry-run' : 'fixed' });
      deps.log.info(options.dryRun ? `janitor (dry run) would fix ${kind}` : `janitor fixed ${kind}`, {
        ...entry,
      });
    } catch (err) {
      const message = `${kind} ${entry.namespace}/${entry.name}: ${err instanceof Error ? err.message : String(err)}`;
      errors.push(message);
      deps.log.warn('janitor fix failed', { ...entry, error: message });
    }
  }

  const ns = options.namespace;
  const [jobs, pods, policies] = await Promise.all([
    ns === undefined
      ? batch.listJobForAllNamespaces({ labelSelector: selector })
      : batch.listNamespacedJob({ namespace: ns, labelSelector: selector }),
    ns === undefined
      ? core.listPodForAllNamespaces({ labelSelector: selector })
      : core.listNamespacedPod({ namespace: ns, labelSelector: selector }),
    ns === undefined
      ? networking.listNetworkPolicyForAllNamespaces({ labelSelector: selector })
      : networking.listNamespacedNetworkPolicy({ namespace: ns, labelSelector: selector }),
  ]);

  for (const job of jobs.items) {
    const owner = await abandoned(job.metadata);
    if (owner === null || job.metadata?.deletionTimestamp !== undefined) continue;
    const meta = job.metadata!;
    await fix('job', meta, owner, async () => {
      // A 404 means the Job is already gone: done.
      await orNullOn404(
        batch.deleteNamespacedJob({
          name: meta.name!,
          namespace: meta.namespace!,
          propagationPolicy: 'Background',
        }),
      );
    });
  }
  for (const pod of pods.items) {
    if (!(pod.metadata?.finalizers ?? []).includes(captureFinalizer)) continue;
    const owner = await abandoned(pod.metadata);
    if (owner === null) continue;
    await fix('pod-finalizer', pod.metadata!, owner, () => releasePod(core, pod));
  }
  for (const policy of policies.items) {
    const owner = await abandoned(policy.metadata);
    if (owner === null) continue;
    const meta = policy.metadata!;
    await fix('network-policy', meta, owner, async () => {
      await orNullOn404(
        networking.deleteNamespacedNetworkPolicy({ name: meta.name!, namespace: meta.namespace! }),
      );
    });
  }
  await sweepEvaluationJobs();
  return { dryRun: options.dryRun, fixes, errors };

  async function sweepEvaluationJobs(): Promise<void> {
    const custom = apiClient(deps.kube, CustomObjectsApi);
    const common = { group: evaluationJobGroup, version: evaluationJobVersion, plural: evaluationJobPlural };
    let items: EvaluationJobResource[];
    try {
      const list = (await (ns === undefined
        ? custom.listClusterCustomObject(common)
        : custom.listNamespacedCustomObject({ ...common, namespace: ns }))) as {
        items: EvaluationJobResource[];
      };
      items = list.items;
    } catch (err) {
      if (isNotFound(err)) return; // no CRD on this cluster
      throw err;
    }
    for (const resource of items) {
      const id = resource.status?.evaluationId;
      if (
        id === undefined ||
        isFinished(resource.status) ||
        resource.metadata?.deletionTimestamp !== undefined
      )
        continue;
      const state = await stateOf(id);
      if (state.state !== 'closed' || state.status === 'COMPLETED') continue; // a completed one is the controller's
      const meta = resource.metadata as V1ObjectMeta;
      const outcome =
        state.status === 'CANCELLED'
          ? 'Cancelled'
          : state.status === 'TIMED_OUT'
            ? 'TimedOut'
            : 'InfrastructureError';
      const status = statusFromProgress(
        resource,
        id,
        {
          phase: 'Completed',
          outcome,
          reason: `Workflow${state.status.charAt(0)}${state.status
            .slice(1)
            .toLowerCase()
            .replace(/_(\w)/g, (_m, c: string) => c.toUpperCase())}`,
          exitCode: null,
          attempt: resource.status?.attempt ?? 0,
          queuePosition: null,
          recordKey: storageKeys.record(id),
          startedAt: resource.status?.startedAt ?? null,
          finishedAt: (state.closedAt ?? now).toISOString(),
        },
        now,
      );
      await fix('evaluation-job-status', meta, { id, workflow: state.status }, async () => {
        // A 404: the resource was deleted meanwhile, and nothing is left to fix.
        await orNullOn404(
          custom.patchNamespacedCustomObjectStatus(
            {
              ...common,
              namespace: meta.namespace!,
              name: meta.name!,
              body: { status: { ...status, queuePosition: null } },
            },
            setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
          ),
        );
      });
    }
  }
}

/** Removes the capture finalizer (guarded by a JSON-patch test of its index) and deletes a pod that still runs. */
async function releasePod(core: KubeClients['core'], pod: V1Pod): Promise<void> {
  const meta = pod.metadata!;
  const index = (meta.finalizers ?? []).indexOf(captureFinalizer);
  // A 404: the pod is gone, and its finalizer with it.
  const patched = await orNullOn404(
    core.patchNamespacedPod(
      {
        name: meta.name!,
        namespace: meta.namespace!,
        body: [
          { op: 'test', path: `/metadata/finalizers/${index}`, value: captureFinalizer },
          { op: 'remove', path: `/metadata/finalizers/${index}` },
        ],
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    ),
  );
  const phase = pod.status?.phase;
  if (
    patched !== null &&
    meta.deletionTimestamp === undefined &&
    phase !== 'Succeeded' &&
    phase !== 'Failed'
  ) {
    await orNullOn404(core.deleteNamespacedPod({ name: meta.name!, namespace: meta.namespace! }));
  }
}
