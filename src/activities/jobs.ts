/**
 * Job lifecycle activities on one cluster (docs/architecture.md, steps 4–6 and 8): idempotent create (making the
 * team's namespace ready first), wait for the main container to end (watch, heartbeat, cancellation, the exact
 * timeout), cleanup.
 */
import { Context } from '@temporalio/activity';
import { startHeartbeat } from './heartbeat.js';
import { ApplicationFailure } from '@temporalio/common';
import {
  PatchStrategy,
  setHeaderOptions,
  type CoreV1Event,
  type V1Job,
  type V1Pod,
  type V1ServiceAccount,
} from '@kubernetes/client-node';
import { apiMessage, apiStatus, listForWatch, orNullOn404, orNullOn409, type KubeClients } from '../kube/clients.js';
import { attemptKey, createAttemptWatches, type AttemptWatches } from './attempt-watches.js';
import { watchUntil } from '../kube/watch.js';
import type { AttemptEnd } from '../spec/record.js';
import { attemptJobName } from '../spec/names.js';
import { captureFinalizer, labelKeys, managedByValue } from '../spec/kube-labels.js';
import { errorTypes } from '../spec/error-types.js';
import {
  classifyPod,
  clusterUnreachable,
  podUnschedulable,
  podVanished,
  unschedulableSince,
} from './classify.js';
import { apiServerProbe, createReachability, type Reachability } from '../kube/reachability.js';
import { attemptEgressPolicy, attemptPolicyName, defaultDenyPolicy } from '../security/network-policy.js';
import {
  CollectorNotConfiguredError,
  attemptSelector,
  buildJob,
  buildNamespace,
  mainContainerName,
  type JobClusterSettings,
} from './job-manifest.js';
import type { AwaitAttemptInput, JobActivities } from './types.js';
import type { TeamBackstop } from './quota-backstop.js';
import { createAttemptMeter, type AttemptMeterDeps, type MeterCheckpoint } from '../cost/attempt-meter.js';

export interface JobActivityDeps {
  readonly kube: KubeClients;
  /** The cluster's shared watches (one pod watch per namespace for every waiting activity); default: its own. */
  readonly watches?: AttemptWatches;
  /** The served cluster's registry settings that shape its Jobs (the collector sidecar). */
  readonly cluster: JobClusterSettings;
  /** How often the wait activity heartbeats. */
  readonly heartbeatIntervalMs?: number;
  /** The team namespace's ResourceQuota/LimitRange and the PriorityClasses (docs/quota.md); none when absent. */
  readonly backstop?: TeamBackstop;
  /** Measures each attempt for its cost while it is awaited (docs/cost.md); absent: attempts are not measured. */
  readonly cost?: AttemptMeterDeps;
  /**
   * Whether the cluster's API server answers, for waits with `lostClusterSeconds`; default: a sentinel of its own,
   * made on first use, that probes `GET /readyz` while such a wait runs (src/kube/reachability.ts).
   */
  readonly reachability?: Reachability;
  /** How often a wait with `lostClusterSeconds` looks at the sentinel; default 1 s. */
  readonly lostClusterCheckMs?: number;
  /** How long after a failed re-read of an unschedulable pod the wait reads it again; default 5 s. */
  readonly unschedulableRetryMs?: number;
}

/** Resume point of the wait activity, heartbeated. */
export interface AwaitHeartbeat {
  pod: string | null;
  /** When the main container must be stopped (epoch ms), once it is known to run. */
  deadlineAt?: number | null;
  /** The cost measurement so far (node, spot, peak memory, CPU time). */
  usage?: MeterCheckpoint;
  /** When the main container started, once seen (ISO): a lost cluster's end still says the attempt ran. */
  startedAt?: string | null;
}

/** When the pod's main container started (running or already ended), as ISO; null before. */
function mainStartedAt(pod: V1Pod): string | null {
  const state = pod.status?.containerStatuses?.find((c) => c.name === mainContainerName)?.state;
  const started = state?.running?.startedAt ?? state?.terminated?.startedAt;
  return started === undefined ? null : new Date(started).toISOString();
}

function rejected(message: string, cause?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type: errorTypes.rejected,
    message,
    nonRetryable: true,
    cause: cause as Error,
  });
}

/** A Job of this name exists: is it ours for this very attempt? */
function isOurs(job: V1Job, evaluationId: string, attempt: number): boolean {
  const labels = job.metadata?.labels ?? {};
  return (
    labels[labelKeys.managedBy] === managedByValue &&
    labels[labelKeys.evaluationId] === evaluationId &&
    labels[labelKeys.attempt] === String(attempt)
  );
}

/** `FailedCreate` events of the Job that mean the pod will never be admitted (quota answers are waited out). */
function admissionRejection(event: CoreV1Event): AttemptEnd | null {
  if (event.reason !== 'FailedCreate') return null;
  const message = event.message ?? '';
  // Quota is waited out; a missing default ServiceAccount is a new namespace the controller has not finished yet.
  if (/exceeded quota|service ?account/i.test(message)) return null;
  if (!/forbidden|denied|invalid/i.test(message)) return null;
  return {
    kind: 'Configuration',
    pod: null,
    exitCode: null,
    reason: 'AdmissionRejected',
    message,
    startedAt: null,
    finishedAt: null,
    result: null,
    terminationMessage: null,
  };
}

export function createJobActivities(deps: JobActivityDeps): JobActivities {
  const { core, batch, networking, watch } = deps.kube;
  const heartbeatEvery = deps.heartbeatIntervalMs ?? 3000;
  let ownReachability: Reachability | undefined;
  /** The cluster's reachability sentinel, shared by every wait of these activities. */
  const reachability = (): Reachability =>
    deps.reachability ??
    (ownReachability ??= createReachability({ probe: apiServerProbe(deps.kube.config) }));

  async function readJob(namespace: string, name: string): Promise<V1Job | undefined> {
    return (await orNullOn404(batch.readNamespacedJob({ name, namespace }))) ?? undefined;
  }

  async function removeFinalizer(pod: V1Pod): Promise<boolean> {
    const finalizers = pod.metadata?.finalizers ?? [];
    const index = finalizers.indexOf(captureFinalizer);
    if (index < 0 || pod.metadata?.name === undefined || pod.metadata.namespace === undefined) return false;
    try {
      // `test` makes the patch fail instead of removing someone else's finalizer if the list changed meanwhile.
      await core.patchNamespacedPod(
        {
          name: pod.metadata.name,
          namespace: pod.metadata.namespace,
          body: [
            { op: 'test', path: `/metadata/finalizers/${index}`, value: captureFinalizer },
            { op: 'remove', path: `/metadata/finalizers/${index}` },
          ],
        },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      );
      return true;
    } catch (err) {
      const status = apiStatus(err);
      if (status === 404) return false;
      if (status === 422 || status === 409) {
        // The list changed under us: read it again and retry once with fresh indices.
        try {
          const fresh = await core.readNamespacedPod({
            name: pod.metadata.name,
            namespace: pod.metadata.namespace,
          });
          return await removeFinalizer(fresh);
        } catch (again) {
          if (apiStatus(again) === 404) return false;
          throw again;
        }
      }
      throw err;
    }
  }

  const watches = deps.watches ?? createAttemptWatches(deps.kube);
  /** Namespaces this process has made ready; a Job refused for a missing namespace forgets its entry. */
  const readyNamespaces = new Set<string>();

  /** Creates the team's namespace when missing and waits for its `default` ServiceAccount. Idempotent. */
  async function namespaceReady(namespace: string, team: string): Promise<void> {
    if ((await orNullOn404(core.readNamespace({ name: namespace }))) === null) {
      try {
        await core.createNamespace({ body: buildNamespace(namespace, team) });
      } catch (createErr) {
        if (apiStatus(createErr) === 403) {
          throw rejected(`cannot create namespace ${namespace}: ${apiMessage(createErr)}`, createErr);
        }
        if (apiStatus(createErr) !== 409) throw createErr;
      }
    }
    // Default deny before the first pod: every evaluation pod reaches nothing unless its attempt's policy allows it.
    await orNullOn409(networking.createNamespacedNetworkPolicy({ namespace, body: defaultDenyPolicy(namespace, team) }));
    // The ServiceAccount admission plugin refuses pods until the controller has made the namespace's `default`
    // ServiceAccount: wait for it (watching), so the first Job's pod is not refused.
    const ctx = Context.current();
    await watchUntil<V1ServiceAccount, true>(
      watch,
      {
        path: `/api/v1/namespaces/${namespace}/serviceaccounts`,
        query: { fieldSelector: 'metadata.name=default' },
        list: listForWatch(() =>
          core.listNamespacedServiceAccount({ namespace, fieldSelector: 'metadata.name=default' }),
        ),
      },
      (_sa, type) => (type === 'DELETED' ? null : true),
      { signal: ctx.cancellationSignal },
    );
  }

  return {
    async createJob(request) {
      if (!readyNamespaces.has(request.namespace)) {
        await namespaceReady(request.namespace, request.team);
        await deps.backstop?.ensure(request.namespace, request.team);
        readyNamespaces.add(request.namespace);
      }
      let body: V1Job;
      try {
        body = buildJob(request, deps.cluster);
      } catch (err) {
        if (!(err instanceof CollectorNotConfiguredError)) throw err;
        throw ApplicationFailure.create({
          type: errorTypes.workerMisconfigured,
          nonRetryable: true,
          message: err.message,
        });
      }
      const name = body.metadata!.name!;
      // The egress policy first: a pod must never run without the allowances it was promised (or with more).
      const egress = attemptEgressPolicy(request);
      if (egress !== null) {
        await orNullOn409(networking.createNamespacedNetworkPolicy({ namespace: request.namespace, body: egress }));
      }
      try {
        await batch.createNamespacedJob({ namespace: request.namespace, body });
        return { job: name, created: true };
      } catch (err) {
        const status = apiStatus(err);
        if (status === 409) {
          const existing = await readJob(request.namespace, name);
          if (existing !== undefined && isOurs(existing, request.evaluationId, request.attempt)) {
            return { job: name, created: false };
          }
          throw ApplicationFailure.create({
            type: errorTypes.jobConflict,
            nonRetryable: true,
            message: `a Job named ${name} exists in ${request.namespace} but was not created by Assay for this attempt`,
          });
        }
        // A ResourceQuota counting Jobs is a reason to wait: retried, never a failed evaluation (docs/quota.md).
        if (status === 403 && /exceeded quota/i.test(apiMessage(err))) {
          throw ApplicationFailure.create({
            message: `waiting for quota: ${apiMessage(err)}`,
            cause: err as Error,
          });
        }
        if (status === 400 || status === 403 || status === 422) {
          throw rejected(`the cluster refused Job ${name}: ${apiMessage(err)}`, err);
        }
        // The namespace went away since this process made it ready: make it again on the retry.
        if (status === 404) readyNamespaces.delete(request.namespace);
        throw err;
      }
    },

    async awaitAttempt(ref: AwaitAttemptInput) {
      const ctx = Context.current();
      const job = attemptJobName(ref.evaluationId, ref.attempt);
      const previous = ctx.info.heartbeatDetails as Partial<AwaitHeartbeat> | undefined;
      const progress: AwaitHeartbeat = {
        pod: previous?.pod ?? null,
        deadlineAt: previous?.deadlineAt ?? null,
        startedAt: previous?.startedAt ?? null,
      };
      const meter =
        deps.cost === undefined
          ? null
          : createAttemptMeter(deps.cost, { container: mainContainerName, resume: previous?.usage });
      const stopHeartbeat = startHeartbeat(
        ctx,
        () => (meter === null ? progress : { ...progress, usage: meter.checkpoint() }),
        heartbeatEvery,
      );
      let deadline: NodeJS.Timeout | undefined;
      /**
       * The exact timeout: once the main container runs, its pod is deleted `timeoutSeconds` after the container
       * started (the pod's own `activeDeadlineSeconds` is a late backstop). The deadline derives from the container's
       * `startedAt` alone, so a retried wait (after a worker crash) arms the same one; that timestamp has one-second
       * precision and the kubelet reports the start up to a second or two late, so the deadline may fire up to a
       * second early and is never delayed by the report. The deletion sends SIGTERM at once (the command is not PID 1:
       * the pod shares its PID namespace); a process that ignores it is killed two seconds later, the kubelet's
       * shortest stop window.
       */
      const armDeadline = (pod: V1Pod): void => {
        if (ref.timeoutSeconds === undefined || deadline !== undefined) return;
        const running = pod.status?.containerStatuses?.find((c) => c.name === mainContainerName)?.state
          ?.running?.startedAt;
        const name = pod.metadata?.name;
        if (running === undefined || name === undefined || pod.metadata?.deletionTimestamp !== undefined)
          return;
        if (progress.deadlineAt == null) {
          progress.deadlineAt = new Date(running).getTime() + ref.timeoutSeconds * 1000;
          ctx.heartbeat(progress);
        }
        deadline = setTimeout(
          () => {
            // A one-second grace period: SIGTERM now, SIGKILL once the kubelet's shortest stop window has passed.
            core
              .deleteNamespacedPod({ name, namespace: ref.namespace, gracePeriodSeconds: 1 })
              .catch((err: unknown) => {
                if (apiStatus(err) !== 404) ctx.log.warn('deleting the pod at its deadline failed', { err });
              });
          },
          Math.max(0, progress.deadlineAt - Date.now()),
        );
      };
      const local = new AbortController();
      /** Ends the wait from a timer (unschedulable too long, the cluster lost): the race's third contender. */
      let endBy: (end: AttemptEnd) => void = () => undefined;
      const timed = new Promise<AttemptEnd>((resolve) => (endBy = resolve));
      let unschedulable: NodeJS.Timeout | undefined;
      /**
       * Spill-over: a pod the scheduler places nowhere for `unschedulableSeconds` ends the attempt. No watch event
       * comes while a pod just sits Pending, so one timer is armed for its condition's `lastTransitionTime` plus the
       * bound (a retried wait arms the same one); when it fires, the pod is read again and ends the attempt if it is
       * still unschedulable. A pod scheduled meanwhile disarms it.
       */
      const watchScheduling = (pod: V1Pod): void => {
        const bound = ref.unschedulableSeconds;
        if (bound === undefined) return;
        if (pod.spec?.nodeName !== undefined) {
          clearTimeout(unschedulable);
          unschedulable = undefined;
          return;
        }
        const since = unschedulableSince(pod);
        const name = pod.metadata?.name;
        if (unschedulable !== undefined || since === null || name === undefined) return;
        armUnschedulable(name, bound, since + bound * 1000 - Date.now());
      };
      const armUnschedulable = (name: string, bound: number, delayMs: number): void => {
        unschedulable = setTimeout(
          () => {
            readPod(ref.namespace, name).then(
              (fresh) => {
                unschedulable = undefined;
                // Gone: the pod watch reports the deletion.
                if (local.signal.aborted || fresh === undefined) return;
                const end = podUnschedulable(fresh, bound, Date.now());
                if (end !== null) endBy(end);
                // Scheduled meanwhile, or unschedulable anew since a later time: wait on (re-armed for the new time).
                else watchScheduling(fresh);
              },
              (err: unknown) => {
                unschedulable = undefined;
                if (local.signal.aborted) return;
                ctx.log.warn('reading the unschedulable pod failed; reading it again shortly', { err });
                armUnschedulable(name, bound, deps.unschedulableRetryMs ?? 5000);
              },
            );
          },
          Math.max(0, delayMs),
        );
      };
      /**
       * A lost cluster: the cluster's sentinel (one probe every few seconds for all its waits, none of this wait's
       * own) says its API server has not answered for `lostClusterSeconds`. The watches hang or fail meanwhile; this
       * ends the wait.
       */
      let lostCheck: NodeJS.Timeout | undefined;
      let sentinel: Reachability | undefined;
      const onCancel = (): void => local.abort(ctx.cancellationSignal.reason);
      ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
      try {
        if (ref.lostClusterSeconds !== undefined) {
          const boundMs = ref.lostClusterSeconds * 1000;
          sentinel = reachability();
          // A fifth of the bound between probes (2 s to 60 s): the default 300 s costs one request a minute while
          // waits run, and a short evaluation none.
          sentinel.acquire(Math.min(60_000, Math.max(2_000, boundMs / 5)));
          const watched = sentinel;
          lostCheck = setInterval(() => {
            const since = watched.unreachableSince();
            if (since === null || Date.now() - since < boundMs) return;
            endBy({
              ...clusterUnreachable(progress.pod, Date.now() - since, watched.lastError()),
              startedAt: progress.startedAt ?? null,
            });
          }, deps.lostClusterCheckMs ?? 1000);
        }
        // The namespace's shared pod and event watches feed this wait; it decides on its attempt's objects only.
        const pods = watches.pods(ref.namespace).until(
          attemptKey(ref.evaluationId, ref.attempt),
          (pod, type) => {
            progress.pod = pod.metadata?.name ?? progress.pod;
            progress.startedAt ??= mainStartedAt(pod);
            meter?.observe(pod);
            const decided = classifyPod(pod, undefined, ref.timeoutSeconds);
            if (decided !== null) return decided;
            armDeadline(pod);
            watchScheduling(pod);
            return type === 'DELETED'
              ? podVanished(pod.metadata?.name ?? null, 'PodDeleted', 'the pod was deleted before it ended')
              : null;
          },
          local.signal,
        );
        const events = watches.jobEvents(ref.namespace).until(job, admissionRejection, local.signal);
        // Both end when `local` aborts; settle them here so neither rejection goes unhandled.
        const both = Promise.allSettled([pods, events]);
        let end: AttemptEnd;
        try {
          end = await Promise.race([pods, events, timed]);
        } finally {
          local.abort(new Error('decided'));
          await both;
        }
        if (end.kind === 'Infrastructure' && end.reason === 'PodDeleted') {
          // The Job controller deletes the pod when the Job's own deadline passes: that is a timeout, not a loss.
          const current = await readJob(ref.namespace, job);
          const pod = end.pod === null ? undefined : await readPod(ref.namespace, end.pod);
          if (pod !== undefined) end = classifyPod(pod, current, ref.timeoutSeconds) ?? end;
          else if (
            (current?.status?.conditions ?? []).some(
              (c) => c.type === 'Failed' && c.reason === 'DeadlineExceeded',
            )
          ) {
            end = {
              ...end,
              kind: 'TimedOut',
              reason: 'DeadlineExceeded',
              message: 'the Job exceeded its deadline',
            };
          }
        }
        if (meter === null) return end;
        // A lost cluster answers nothing: the measurement does not wait for a node read still under way.
        const lost = end.kind === 'Infrastructure' && end.reason === 'ClusterUnreachable';
        return { ...end, measurement: await meter.finish(new Date(), { awaitNodeRead: !lost }) };
      } catch (err) {
        if (ctx.cancellationSignal.aborted) throw ctx.cancellationSignal.reason;
        throw err;
      } finally {
        stopHeartbeat();
        meter?.stop();
        clearTimeout(deadline);
        clearTimeout(unschedulable);
        clearInterval(lostCheck);
        sentinel?.release();
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
        local.abort();
      }
    },

    async cleanupAttempt(ref) {
      const name = attemptJobName(ref.evaluationId, ref.attempt);
      let jobDeleted = false;
      try {
        await batch.deleteNamespacedJob({ name, namespace: ref.namespace, propagationPolicy: 'Background' });
        jobDeleted = true;
      } catch (err) {
        if (apiStatus(err) !== 404) throw err;
      }
      // The shared watch has usually seen the attempt's pod; an empty cache (another process, a pod not seen yet) is
      // no proof that there is none, so only then is the attempt's pod listed. A stale cached copy is harmless: the
      // finalizer patch tests its index and re-reads the pod when the list changed.
      const cached = watches.pods(ref.namespace).cached(attemptKey(ref.evaluationId, ref.attempt));
      const pods =
        cached.length > 0
          ? cached
          : (
              await core.listNamespacedPod({
                namespace: ref.namespace,
                labelSelector: attemptSelector(ref.evaluationId, ref.attempt),
              })
            ).items;
      let finalizersRemoved = 0;
      for (const pod of pods) {
        if (await removeFinalizer(pod)) finalizersRemoved++;
        const phase = pod.status?.phase;
        // A pod that still runs (the collector) is deleted now to free the node; a finished one is left to the
        // garbage collector, which deletes it with its Job.
        if (
          pod.metadata?.deletionTimestamp === undefined &&
          pod.metadata?.name !== undefined &&
          phase !== 'Succeeded' &&
          phase !== 'Failed'
        ) {
          // The garbage collector would delete it soon; deleting now frees the node at once.
          try {
            await core.deleteNamespacedPod({ name: pod.metadata.name, namespace: ref.namespace });
          } catch (err) {
            if (apiStatus(err) !== 404) throw err;
          }
        }
      }
      await orNullOn404(
        networking.deleteNamespacedNetworkPolicy({
          name: attemptPolicyName(ref.evaluationId, ref.attempt),
          namespace: ref.namespace,
        }),
      );
      return { jobDeleted, finalizersRemoved };
    },
  };

  async function readPod(namespace: string, name: string): Promise<V1Pod | undefined> {
    return (await orNullOn404(core.readNamespacedPod({ name, namespace }))) ?? undefined;
  }
}
