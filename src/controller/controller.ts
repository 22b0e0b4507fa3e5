/**
 * The EvaluationJob controller (docs/kubernetes.md, "The controller"): a thin bridge between the resource and its
 * evaluation workflow, which is the durable reconciler.
 *
 * - **Informer**: one list + one watch of EvaluationJobs across namespaces (optionally a label selector), resumed from
 *   the last resourceVersion by the client's ListWatch; every cached object is re-examined each `resyncIntervalMs`.
 * - **Work queue**: one reconcile at a time per `namespace/name`; an event that arrives meanwhile runs it once more.
 *   A failed reconcile is retried with exponential back-off (1 s … 5 min), never a crash.
 * - **Reconcile**: add the finalizer `assay.dev/evaluation`, start the evaluation idempotently (id from namespace,
 *   name and uid; memo naming the resource), then follow it: a long-poll of the workflow's result plus the `status`
 *   query every `pollIntervalMs`, writing the status subresource only when it changed. A finished status is final.
 * - **Deletion**: cancel the evaluation, wait until its workflow is closed (the Job deleted by its cleanup), then
 *   remove the finalizer.
 *
 * It only touches evaluations whose id it derives from a resource: those started with `assay run` are never seen.
 *
 * @packageDocumentation
 */
import {
  CustomObjectsApi,
  type KubeConfig,
  PatchStrategy,
  makeInformer,
  setHeaderOptions,
  type Informer,
  type KubernetesListObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import type { Logger } from 'pino';
import {
  EvaluationConflictError,
  InvalidEvaluationIdError,
  InvalidEvaluationSpecError,
  type AssayClient,
} from '../client/assay-client.js';
import { withLiveQueuePosition } from '../client/quota.js';
import { apiStatus } from '../kube/clients.js';
import { evaluationWorkflowId, statusQueryName } from '../spec/names.js';
import { evaluationOutputSchema, evaluationStatusSchema } from '../spec/record.js';
import { storageKeys } from '../spec/storage-keys.js';
import type { EvaluationJobStatus } from '../spec/evaluation-job-status.js';
import { abortableSleep } from './lease.js';
import type { RequestCounter } from './requests.js';
import {
  backoffMs,
  evaluationFinalizer,
  evaluationIdForResource,
  evaluationJobGroup,
  evaluationJobPlural,
  evaluationJobVersion,
  isFinished,
  isStarted,
  manifestOf,
  progressOfRecord,
  progressOfStatus,
  resourceKey,
  resourceMemoKey,
  sameStatus,
  statusFromProgress,
  statusOfStartFailure,
  type EvaluationJobResource,
} from './resource.js';

export interface ControllerOptions {
  readonly kubeConfig: KubeConfig;
  readonly client: AssayClient;
  readonly logger: Logger;
  readonly requests: RequestCounter;
  /** Only resources matching this label selector (sharding, tests); all by default. */
  readonly labelSelector?: string;
  /** How often a running evaluation's `status` query is asked (default 5 s). */
  readonly pollIntervalMs?: number;
  /** How often every cached resource is reconciled again (default 5 min). */
  readonly resyncIntervalMs?: number;
  readonly now?: () => Date;
}

type KeyedTimer = ReturnType<typeof setTimeout>;

/** Why a start failed for good: retrying the same immutable spec cannot help. */
function permanentStartFailure(err: unknown): { reason: string; message: string } | null {
  if (err instanceof InvalidEvaluationSpecError) return { reason: 'InvalidSpec', message: err.message };
  if (err instanceof InvalidEvaluationIdError) return { reason: 'InvalidEvaluationId', message: err.message };
  if (err instanceof EvaluationConflictError) return { reason: 'EvaluationConflict', message: err.message };
  return null;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Runs the controller until `signal` aborts (when this replica stops leading, or the process stops). */
export async function runController(options: ControllerOptions, signal: AbortSignal): Promise<void> {
  const { client, logger, requests } = options;
  const now = options.now ?? (() => new Date());
  const pollIntervalMs = options.pollIntervalMs ?? 5000;
  const custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
  const path = `/apis/${evaluationJobGroup}/${evaluationJobVersion}/${evaluationJobPlural}`;
  const informer: Informer<EvaluationJobResource> & ObjectCache<EvaluationJobResource> = makeInformer(
    options.kubeConfig,
    path,
    async () => {
      requests.count('kube', 'list');
      return (await custom.listClusterCustomObject({
        group: evaluationJobGroup,
        version: evaluationJobVersion,
        plural: evaluationJobPlural,
        ...(options.labelSelector !== undefined ? { labelSelector: options.labelSelector } : {}),
      })) as KubernetesListObject<EvaluationJobResource>;
    },
    options.labelSelector,
  );

  const running = new Set<string>();
  const dirty = new Set<string>();
  const timers = new Map<string, KeyedTimer>();
  const failures = new Map<string, number>();
  /** Active followers, by key: the evaluation id they follow and how to stop them. */
  const followers = new Map<string, { evaluationId: string; stop: AbortController }>();
  /** What this term already did per key, so a reconcile on a cached copy older than our own writes repeats nothing. */
  const startedHere = new Map<string, string>();
  const written = new Map<string, { uid: string; status: EvaluationJobStatus }>();
  const inflight = new Set<Promise<void>>();

  function enqueue(key: string, delayMs = 0): void {
    if (signal.aborted) return;
    if (delayMs > 0) {
      if (timers.has(key)) return;
      timers.set(
        key,
        setTimeout(() => {
          timers.delete(key);
          enqueue(key);
        }, delayMs),
      );
      return;
    }
    if (running.has(key)) {
      dirty.add(key);
      return;
    }
    running.add(key);
    const done: Promise<void> = reconcileKey(key).finally(() => {
      inflight.delete(done);
      running.delete(key);
      if (dirty.delete(key)) enqueue(key);
    });
    inflight.add(done);
  }

  async function reconcileKey(key: string): Promise<void> {
    const resource = currentOf(key);
    if (resource === undefined) {
      stopFollowing(key);
      return;
    }
    try {
      await reconcile(key, resource);
      failures.delete(key);
    } catch (err) {
      if (signal.aborted) return;
      const n = (failures.get(key) ?? 0) + 1;
      failures.set(key, n);
      const delay = backoffMs(n);
      logger.warn(
        { resource: key, error: messageOf(err), retryInMs: delay, failures: n },
        'reconcile failed',
      );
      enqueue(key, delay);
    }
  }

  /** A merge patch of the status subresource; fields the new status leaves out are removed (null). */
  async function writeStatus(resource: EvaluationJobResource, status: EvaluationJobStatus): Promise<void> {
    const key = resourceKey(resource);
    const last = written.get(key);
    if (
      sameStatus(resource.status, status) ||
      (last !== undefined && last.uid === resource.metadata?.uid && sameStatus(last.status, status))
    )
      return;
    const removed = Object.fromEntries(
      Object.keys(resource.status ?? {})
        .filter((k) => !(k in status))
        .map((k) => [k, null]),
    );
    requests.count('kube', 'patchStatus');
    await custom.patchNamespacedCustomObjectStatus(
      {
        group: evaluationJobGroup,
        version: evaluationJobVersion,
        plural: evaluationJobPlural,
        namespace: resource.metadata?.namespace ?? '',
        name: resource.metadata?.name ?? '',
        body: { status: { ...removed, ...status } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    );
    // The watch delivers the new object; until then, later writes compare against what we wrote.
    written.set(key, { uid: resource.metadata?.uid ?? '', status });
  }

  /** Sets the finalizer list, guarded by resourceVersion (409 → the reconcile is retried with the new object). */
  async function setFinalizers(
    resource: EvaluationJobResource,
    finalizers: string[],
  ): Promise<EvaluationJobResource> {
    requests.count('kube', 'patchFinalizers');
    return (await custom.patchNamespacedCustomObject(
      {
        group: evaluationJobGroup,
        version: evaluationJobVersion,
        plural: evaluationJobPlural,
        namespace: resource.metadata?.namespace ?? '',
        name: resource.metadata?.name ?? '',
        body: { metadata: { finalizers, resourceVersion: resource.metadata?.resourceVersion } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as EvaluationJobResource;
  }

  async function reconcile(key: string, resource: EvaluationJobResource): Promise<void> {
    const meta = resource.metadata ?? {};
    if (meta.uid === undefined || meta.name === undefined || meta.namespace === undefined) return;
    const evaluationId =
      resource.status?.evaluationId ?? evaluationIdForResource(meta.namespace, meta.name, meta.uid);
    const finalizers = meta.finalizers ?? [];

    if (meta.deletionTimestamp !== undefined) {
      if (!finalizers.includes(evaluationFinalizer)) return;
      stopFollowing(key);
      await cancelAndWait(key, evaluationId);
      await setFinalizers(
        resource,
        finalizers.filter((f) => f !== evaluationFinalizer),
      ).catch((err: unknown) => {
        if (apiStatus(err) !== 404) throw err;
      });
      logger.info({ resource: key, evaluationId }, 'evaluation closed; finalizer removed');
      return;
    }
    if (isFinished(resource.status)) {
      stopFollowing(key);
      return;
    }
    let current = resource;
    if (!finalizers.includes(evaluationFinalizer)) {
      current = await setFinalizers(resource, [...finalizers, evaluationFinalizer]);
    }
    if (!isStarted(current.status) && startedHere.get(key) !== evaluationId) {
      try {
        requests.count('temporal', 'start');
        const started = await client.start(manifestOf(current, evaluationId), {
          idempotencyKey: evaluationId,
          memo: { [resourceMemoKey]: key, 'assay.dev/evaluation-job-uid': meta.uid },
        });
        logger.info({ resource: key, evaluationId, existing: started.existing }, 'evaluation started');
        startedHere.set(key, evaluationId);
      } catch (err) {
        const permanent = permanentStartFailure(err);
        const failure = permanent ?? {
          reason: 'StartFailed',
          message: `cannot start the evaluation (retried with back-off): ${messageOf(err)}`,
        };
        await writeStatus(current, statusOfStartFailure(current, evaluationId, failure, now()));
        if (permanent !== null) {
          logger.warn({ resource: key, evaluationId, reason: permanent.reason }, permanent.message);
          return;
        }
        throw err;
      }
      await writeStatus(
        current,
        statusFromProgress(
          current,
          evaluationId,
          {
            phase: 'Validating',
            outcome: null,
            reason: null,
            exitCode: null,
            attempt: 0,
            queuePosition: null,
            recordKey: storageKeys.record(evaluationId),
            startedAt: null,
            finishedAt: null,
          },
          now(),
        ),
      );
    }
    follow(key, evaluationId);
  }

  /** Cancels the evaluation (when it runs) and waits until its workflow is closed; a missing one counts as closed. */
  async function cancelAndWait(key: string, evaluationId: string): Promise<void> {
    const handle = client.temporal.workflow.getHandle(evaluationWorkflowId(evaluationId));
    try {
      requests.count('temporal', 'describe');
      const info = await handle.describe();
      if (info.status.name !== 'RUNNING') return;
      requests.count('temporal', 'cancel');
      await handle.cancel();
      logger.info({ resource: key, evaluationId }, 'resource deleted: evaluation cancelled');
      requests.count('temporal', 'result');
      await handle.result().catch((err: unknown) => {
        if (!(err instanceof WorkflowFailedError)) throw err;
      });
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return;
      throw err;
    }
  }

  function stopFollowing(key: string): void {
    const f = followers.get(key);
    if (f === undefined) return;
    followers.delete(key);
    f.stop.abort();
  }

  /** Follows a started evaluation until it ends (or the resource goes, or we stop leading). */
  function follow(key: string, evaluationId: string): void {
    if (followers.get(key)?.evaluationId === evaluationId) return;
    stopFollowing(key);
    const stop = new AbortController();
    followers.set(key, { evaluationId, stop });
    const stopped = AbortSignal.any([stop.signal, signal]);
    void followLoop(key, evaluationId, stopped).then(
      () => {
        if (followers.get(key)?.stop === stop) followers.delete(key);
      },
      (err: unknown) => {
        if (followers.get(key)?.stop === stop) followers.delete(key);
        if (stopped.aborted) return;
        logger.warn({ resource: key, evaluationId, error: messageOf(err) }, 'following failed; retrying');
        enqueue(key, backoffMs(1));
      },
    );
  }

  async function followLoop(key: string, evaluationId: string, stopped: AbortSignal): Promise<void> {
    const handle = client.temporal.workflow.getHandle(evaluationWorkflowId(evaluationId));
    // One long-poll for the end; it is what makes the final status prompt.
    requests.count('temporal', 'result');
    const ended = handle.result().then(
      (raw: unknown) => ({ kind: 'record' as const, raw }),
      (err: unknown) => ({ kind: 'error' as const, err }),
    );
    let done = false;
    void ended.then(() => (done = true));
    while (!stopped.aborted && !done) {
      const current = currentOf(key);
      if (current === undefined) return;
      try {
        requests.count('temporal', 'query');
        const raw: unknown = await handle.query(statusQueryName);
        let status = evaluationStatusSchema.parse(raw);
        if (status.phase === 'Queued') {
          requests.count('temporal', 'query');
          status = await withLiveQueuePosition(client.temporal, status);
        }
        if (!done && !stopped.aborted) {
          await writeStatus(
            current,
            statusFromProgress(current, evaluationId, progressOfStatus(status), now()),
          );
        }
      } catch (err) {
        if (stopped.aborted) return;
        logger.debug({ resource: key, evaluationId, error: messageOf(err) }, 'status query failed');
      }
      await Promise.race([ended, abortableSleep(pollIntervalMs, stopped)]);
    }
    if (stopped.aborted) return;
    const end = await ended;
    const current = currentOf(key);
    if (current === undefined || current.metadata?.deletionTimestamp !== undefined) return;
    if (end.kind === 'record') {
      const output = evaluationOutputSchema.parse(end.raw);
      await writeStatus(
        current,
        statusFromProgress(
          current,
          evaluationId,
          progressOfRecord(output, storageKeys.record(evaluationId)),
          now(),
        ),
      );
      logger.info({ resource: key, evaluationId, outcome: output.outcome }, 'evaluation ended');
      return;
    }
    // Ended without a record: terminated or timed out from outside, or failed before it could write one.
    requests.count('temporal', 'describe');
    const info = await handle.describe();
    const closed = info.status.name;
    const outcome =
      closed === 'CANCELLED' ? 'Cancelled' : closed === 'TIMED_OUT' ? 'TimedOut' : 'InfrastructureError';
    const reason =
      closed === 'TERMINATED'
        ? 'WorkflowTerminated'
        : closed === 'TIMED_OUT'
          ? 'WorkflowTimedOut'
          : `Workflow${closed}`;
    await writeStatus(
      current,
      statusFromProgress(
        current,
        evaluationId,
        {
          phase: 'Completed',
          outcome,
          reason,
          exitCode: null,
          attempt: current.status?.attempt ?? 0,
          queuePosition: null,
          recordKey: storageKeys.record(evaluationId),
          startedAt: current.status?.startedAt ?? null,
          finishedAt: (info.closeTime ?? now()).toISOString(),
        },
        now(),
      ),
    );
    logger.warn(
      { resource: key, evaluationId, workflowStatus: closed, error: messageOf(end.err) },
      'evaluation workflow closed without a record',
    );
  }

  /** The cached resource, with the status we last wrote in place of an older cached one. */
  function currentOf(key: string): EvaluationJobResource | undefined {
    const [namespace = '', name = ''] = key.split('/');
    const cached = informer.get(name, namespace);
    const last = written.get(key);
    return cached === undefined || last === undefined || last.uid !== cached.metadata?.uid
      ? cached
      : { ...cached, status: last.status };
  }

  const onObject = (obj: EvaluationJobResource) => enqueue(resourceKey(obj));
  informer.on('add', onObject);
  informer.on('update', onObject);
  informer.on('delete', (obj) => {
    const key = resourceKey(obj);
    stopFollowing(key);
    written.delete(key);
    startedHere.delete(key);
  });
  informer.on('connect', () => requests.count('kube', 'watch'));
  informer.on('error', (err: unknown) => {
    if (signal.aborted) return;
    logger.warn({ error: messageOf(err) }, 'EvaluationJob watch failed; reconnecting');
  });
  await informer.start();
  logger.info({ labelSelector: options.labelSelector ?? null }, 'following EvaluationJobs');
  const resync = setInterval(() => {
    for (const obj of informer.list()) enqueue(resourceKey(obj));
  }, options.resyncIntervalMs ?? 300_000);
  await new Promise<void>((resolve) => {
    if (signal.aborted) resolve();
    else signal.addEventListener('abort', () => resolve(), { once: true });
  });
  clearInterval(resync);
  for (const t of timers.values()) clearTimeout(t);
  timers.clear();
  for (const key of [...followers.keys()]) stopFollowing(key);
  await informer.stop();
  // Let the reconciles in flight settle (a start being retried, say), for at most 10 s.
  const settled = new AbortController();
  await Promise.race([
    Promise.allSettled([...inflight]).then(() => settled.abort()),
    abortableSleep(10_000, settled.signal),
  ]);
  settled.abort();
}
