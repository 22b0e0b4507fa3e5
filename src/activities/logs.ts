/**
 * Stores an attempt's log in object storage once its main container has ended (until the streaming capture of the
 * log pipeline replaces it). The log streams from the API server into the store: memory stays bounded whatever
 * the log's size.
 */
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Context } from '@temporalio/activity';
import type { V1Pod } from '@kubernetes/client-node';
import { getText, openGet, type KubeClients } from '../kube/clients.js';
import type { ObjectStore } from '../storage/object-store.js';
import { storageKeys, type AttemptLogs } from '../spec/record.js';
import { attemptSelector, mainContainerName } from './job-manifest.js';
import type { LogActivities } from './types.js';

export interface LogActivityDeps {
  readonly kube: KubeClients;
  readonly store: ObjectStore;
  /** Whether the cluster serves `stream=Stdout|Stderr`; `auto` asks the API server's feature-gate metric. */
  readonly splitStreams: boolean | 'auto';
}

/** True when the API server reports the `PodLogsQuerySplitStreams` feature gate enabled. */
export function splitStreamsEnabled(metrics: string): boolean {
  return /^kubernetes_feature_enabled\{name="PodLogsQuerySplitStreams"[^}]*\}\s+1\s*$/m.test(metrics);
}

function newestPod(pods: V1Pod[]): V1Pod | undefined {
  return [...pods].sort(
    (a, b) =>
      new Date(b.metadata?.creationTimestamp ?? 0).getTime() -
      new Date(a.metadata?.creationTimestamp ?? 0).getTime(),
  )[0];
}

export function createLogActivities(deps: LogActivityDeps): LogActivities {
  const { core, config } = deps.kube;
  let split: Promise<boolean> | undefined;

  function supportsSplit(signal: AbortSignal): Promise<boolean> {
    if (deps.splitStreams !== 'auto') return Promise.resolve(deps.splitStreams);
    split ??= getText(config, '/metrics', signal).then(splitStreamsEnabled, () => {
      split = undefined;
      return false;
    });
    return split;
  }

  async function copy(
    namespace: string,
    pod: string,
    stream: 'Stdout' | 'Stderr' | null,
    key: string,
    signal: AbortSignal,
  ): Promise<number> {
    const query: Record<string, string> = { container: mainContainerName };
    if (stream !== null) query.stream = stream;
    const response = await openGet(config, `/api/v1/namespaces/${namespace}/pods/${pod}/log`, query, signal);
    let bytes = 0;
    const counter = new PassThrough();
    counter.on('data', (chunk: Buffer) => (bytes += chunk.length));
    const stored = deps.store.put(key, counter, { contentType: 'text/plain; charset=utf-8', signal });
    await Promise.all([pipeline(response, counter, { signal }), stored]);
    return bytes;
  }

  return {
    async storeAttemptLogs(ref) {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const pods = await core.listNamespacedPod({
        namespace: ref.namespace,
        labelSelector: attemptSelector(ref.evaluationId, ref.attempt),
      });
      const pod = newestPod(pods.items);
      const name = pod?.metadata?.name;
      const main = pod?.status?.containerStatuses?.find((c) => c.name === mainContainerName);
      // A container that never started has no log to read.
      if (name === undefined || main === undefined || main.state?.waiting !== undefined) return null;
      ctx.heartbeat();
      if (await supportsSplit(signal)) {
        const stdout = storageKeys.stdout(ref.evaluationId, ref.attempt);
        const stderr = storageKeys.stderr(ref.evaluationId, ref.attempt);
        const out = await copy(ref.namespace, name, 'Stdout', stdout, signal);
        ctx.heartbeat();
        const err = await copy(ref.namespace, name, 'Stderr', stderr, signal);
        return { split: true, stdout, stderr, combined: null, bytes: out + err } satisfies AttemptLogs;
      }
      const combined = storageKeys.combined(ref.evaluationId, ref.attempt);
      const bytes = await copy(ref.namespace, name, null, combined, signal);
      return { split: false, stdout: null, stderr: null, combined, bytes } satisfies AttemptLogs;
    },
  };
}
