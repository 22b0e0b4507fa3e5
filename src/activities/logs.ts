/**
 * The log capture activity (README.md, "Logs"): started alongside the wait for the main container, it follows the
 * pod's log with timestamps — stdout and stderr separately where the cluster can split them — and streams it into
 * object storage as it arrives (see `src/logs/capture.ts`). It heartbeats its resume point, so a retry after a worker
 * crash continues the same uploads. It finishes when the container has ended and everything is stored; a
 * cancellation from the workflow means "stop following, store what the log holds now, and finish".
 */
import { Context } from '@temporalio/activity';
import { startHeartbeat } from './heartbeat.js';
import type { V1Pod } from '@kubernetes/client-node';
import { getText, KubeHttpError, openGet, orNullOn404, type KubeClients } from '../kube/clients.js';
import { attemptKey, createAttemptWatches, type AttemptWatches } from './attempt-watches.js';
import { LogCapture, type CapturedFile } from '../logs/capture.js';
import { captureCheckpointSchema, type CaptureCheckpoint } from '../logs/checkpoint.js';
import { LogGoneError, type LogSource } from '../logs/source.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { AttemptLogs } from '../spec/record.js';
import { storageKeys } from '../spec/storage-keys.js';
import { mainContainerName } from './job-manifest.js';
import type { LogActivities } from './types.js';

export interface LogActivityDeps {
  readonly kube: KubeClients;
  readonly store: ObjectStore;
  /** Whether the cluster serves `stream=Stdout|Stderr`; `auto` asks the API server's feature-gate metric once. */
  readonly splitStreams: boolean | 'auto';
  /** Bytes per multipart part (default 8 MiB; S3 needs at least 5 MiB for all parts but the last). */
  readonly partSizeBytes?: number;
  /** How often the capture heartbeats its resume point. */
  readonly heartbeatIntervalMs?: number;
  /** The cluster's shared watches, which tell the capture when its pod's main container started. */
  readonly watches?: AttemptWatches;
  /** Told the bytes of every stored part, by file (the worker's `assay_log_capture_bytes_total`). */
  readonly onStoredBytes?: (file: CapturedFile, bytes: number) => void;
}

/** True when the API server reports the `PodLogsQuerySplitStreams` feature gate enabled. */
export function splitStreamsEnabled(metrics: string): boolean {
  return /^kubernetes_feature_enabled\{name="PodLogsQuerySplitStreams"[^}]*\}\s+1\s*$/m.test(metrics);
}

type MainState = 'running' | 'ended' | 'waiting' | 'gone';

/** The kubelet's answer for the log of a container it has removed. */
const removedNotice = 'unable to retrieve container logs for ';

/**
 * A log body as it comes, unless the kubelet answered 200 with its notice that the container is removed instead of a
 * log (it does for a followed stream): then {@link LogGoneError}. With timestamps every real log starts with one, so a
 * body that starts with the notice is never the container's output, and must not be stored as a line of it.
 */
export async function* unlessContainerRemoved(
  body: AsyncIterable<Buffer>,
  what: string,
): AsyncIterable<Buffer> {
  let first = true;
  for await (const chunk of body) {
    if (first) {
      first = false;
      const head = chunk.toString('latin1', 0, removedNotice.length);
      if (head.length > 0 && removedNotice.startsWith(head)) {
        throw new LogGoneError(`the main container of ${what} is removed`);
      }
    }
    yield chunk;
  }
}

function mainState(pod: V1Pod | undefined): MainState {
  if (pod === undefined) return 'gone';
  const main = pod.status?.containerStatuses?.find((c) => c.name === mainContainerName);
  if (main?.state?.running !== undefined) return 'running';
  if (main?.state?.terminated !== undefined) return 'ended';
  if (pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed') return 'ended';
  return 'waiting';
}

/** A cancellation the workflow asked for (as opposed to a worker shutdown or a lost heartbeat). */
function isWorkflowCancel(reason: unknown): boolean {
  return reason instanceof Error && reason.message === 'CANCELLED';
}

export function createLogActivities(deps: LogActivityDeps): LogActivities {
  const { core, config } = deps.kube;
  let split: Promise<boolean> | undefined;

  function supportsSplit(signal: AbortSignal): Promise<boolean> {
    if (deps.splitStreams !== 'auto') return Promise.resolve(deps.splitStreams);
    // Asked once per cluster (per worker); a failed probe is asked again next time.
    split ??= getText(config, '/metrics', signal).then(splitStreamsEnabled, () => {
      split = undefined;
      return false;
    });
    return split;
  }

  async function readPod(namespace: string, name: string, signal: AbortSignal): Promise<V1Pod | undefined> {
    signal.throwIfAborted();
    return (await orNullOn404(core.readNamespacedPod({ name, namespace }))) ?? undefined;
  }

  function kubeSource(namespace: string, pod: string): LogSource {
    return {
      async open(stream, since, follow, signal) {
        const query: Record<string, string> = { container: mainContainerName, timestamps: 'true' };
        if (follow) query.follow = 'true';
        if (stream !== null) query.stream = stream;
        if (since !== null) query.sinceTime = since;
        try {
          const body = await openGet(
            config,
            `/api/v1/namespaces/${namespace}/pods/${pod}/log`,
            query,
            signal,
          );
          return unlessContainerRemoved(body, `${namespace}/${pod}`);
        } catch (err) {
          if (err instanceof KubeHttpError && err.statusCode === 404) {
            throw new LogGoneError(`pod ${namespace}/${pod} is gone`, { cause: err });
          }
          // The container was removed while the pod object stays (deleted at its deadline, held by the capture
          // finalizer): the kubelet answers 400 for good. Retrying would loop until the drain deadline.
          if (err instanceof KubeHttpError && err.statusCode === 400 && err.body.includes(removedNotice)) {
            throw new LogGoneError(`the main container of ${namespace}/${pod} is removed`, { cause: err });
          }
          throw err;
        }
      },
      async state(signal) {
        return mainState(await readPod(namespace, pod, signal));
      },
    };
  }

  const watches = deps.watches ?? createAttemptWatches(deps.kube);

  /** The attempt's pod once its main container has started (or ended); null when `signal` fires first. */
  function startedPod(
    namespace: string,
    evaluationId: string,
    attempt: number,
    signal: AbortSignal,
  ): Promise<string | null> {
    return watches
      .pods(namespace)
      .until(
        attemptKey(evaluationId, attempt),
        (pod, type) => {
          if (type === 'DELETED') return null;
          const state = mainState(pod);
          return state === 'running' || state === 'ended' ? (pod.metadata?.name ?? null) : null;
        },
        signal,
      )
      .catch(() => null);
  }

  return {
    async storeAttemptLogs(input) {
      const ctx = Context.current();
      const prior = captureCheckpointSchema.safeParse(ctx.info.heartbeatDetails);
      const resume: CaptureCheckpoint | null = prior.success ? prior.data : null;
      // A cancel from the workflow drains (store what there is and finish); any other stop aborts and the retry
      // resumes from the heartbeated checkpoint.
      const abort = new AbortController();
      const drain = new AbortController();
      const onCancel = (): void => {
        const reason: unknown = ctx.cancellationSignal.reason;
        if (isWorkflowCancel(reason)) drain.abort(reason);
        else abort.abort(reason);
      };
      if (ctx.cancellationSignal.aborted) onCancel();
      else ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });

      let capture: LogCapture | null = null;
      const stopHeartbeat = startHeartbeat(
        ctx,
        () => capture?.checkpoint() ?? resume ?? undefined,
        deps.heartbeatIntervalMs ?? 1000,
      );
      try {
        const waitSignal = AbortSignal.any([abort.signal, drain.signal]);
        const pod =
          resume?.pod ?? (await startedPod(input.namespace, input.evaluationId, input.attempt, waitSignal));
        if (abort.signal.aborted) throw abort.signal.reason;
        // The container never started: there is no log.
        if (pod === null) return null;
        const splitStreams = resume?.split ?? (await supportsSplit(abort.signal));
        capture = new LogCapture({
          store: deps.store,
          source: kubeSource(input.namespace, pod),
          keys: {
            stdout: storageKeys.stdout(input.evaluationId, input.attempt),
            stderr: storageKeys.stderr(input.evaluationId, input.attempt),
            combined: storageKeys.combined(input.evaluationId, input.attempt),
            events: storageKeys.events(input.evaluationId, input.attempt),
          },
          pod,
          split: splitStreams,
          rules: input.multiline ?? {},
          resume,
          ...(deps.partSizeBytes !== undefined ? { partSizeBytes: deps.partSizeBytes } : {}),
          ...(deps.onStoredBytes !== undefined ? { onStoredBytes: deps.onStoredBytes } : {}),
          onCheckpoint: (checkpoint) => ctx.heartbeat(checkpoint),
        });
        const result = await capture.run({ abort: abort.signal, drain: drain.signal });
        return {
          split: result.split,
          stdout: result.files.stdout?.key ?? null,
          stderr: result.files.stderr?.key ?? null,
          combined: result.files.combined?.key ?? null,
          events: result.events.key,
          bytes:
            (result.files.stdout?.bytes ?? 0) +
            (result.files.stderr?.bytes ?? 0) +
            (result.files.combined?.bytes ?? 0),
          lines: result.lines,
        } satisfies AttemptLogs;
      } finally {
        stopHeartbeat();
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },
  };
}
