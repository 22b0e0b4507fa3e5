/**
 * Live following of an evaluation's logs (`assay logs -f`, `assay run --follow`; docs/architecture.md, "Log capture"): while an
 * attempt's pod runs its log is read from the pod as it is printed; once the pod is gone the rest comes from the
 * stored log. Lines are counted per stream, so the switch neither skips nor repeats a line: the stored log is printed
 * from the first line the pod did not deliver. Attempts are followed one after the other until the evaluation ends.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { openGet, type KubeClients } from '../kube/clients.js';
import { orNullIfNotFound } from '../storage/errors.js';
import type { ObjectStore } from '../storage/object-store.js';
import type { AttemptLogs, EvaluationStatus } from '../spec/record.js';
import { labelKeys } from '../spec/kube-labels.js';

export type FollowStreams = 'stdout' | 'stderr' | 'all';

interface Sink {
  write(chunk: string | Uint8Array): unknown;
}

export interface FollowOptions {
  /** The evaluation's current status (the workflow's `status` query). */
  readonly status: () => Promise<EvaluationStatus>;
  readonly store: ObjectStore;
  /** Clients of the evaluation's cluster; null follows from storage only (each attempt once it is stored). */
  readonly kube: KubeClients | null;
  readonly stdout: Sink;
  readonly stderr: Sink;
  readonly streams?: FollowStreams;
  /** Start with this attempt (default: the first). */
  readonly fromAttempt?: number;
  /** Called before each attempt after the first, e.g. to print a header. */
  readonly onAttempt?: (attempt: number) => void;
  readonly pollMs?: number;
  readonly signal?: AbortSignal;
}

type Stream = 'stdout' | 'stderr';

function mainStarted(pod: V1Pod): boolean {
  const main = pod.status?.containerStatuses?.find((c) => c.name === 'main');
  return main?.state?.running !== undefined || main?.state?.terminated !== undefined;
}

/** Writes complete lines only (a partial line is left to the stored log) and counts them. */
class LineCounter {
  count = 0;
  #tail: Buffer | null = null;
  constructor(private readonly sink: Sink) {}
  push(chunk: Buffer): void {
    const data = this.#tail === null ? chunk : Buffer.concat([this.#tail, chunk]);
    const last = data.lastIndexOf(0x0a);
    if (last < 0) {
      this.#tail = data;
      return;
    }
    const complete = data.subarray(0, last + 1);
    let n = 0;
    for (let i = complete.indexOf(0x0a); i >= 0; i = complete.indexOf(0x0a, i + 1)) n++;
    this.count += n;
    this.sink.write(complete);
    this.#tail = last + 1 < data.length ? Buffer.from(data.subarray(last + 1)) : null;
  }
}

/**
 * Follows the logs of an evaluation until it has ended and every followed attempt's stored log has been printed.
 *
 * @throws the storage or Kubernetes errors that are not "not there yet".
 */
export async function followLogs(options: FollowOptions): Promise<void> {
  const pollMs = options.pollMs ?? 500;
  const signal = options.signal ?? new AbortController().signal;
  const wanted: Stream[] =
    options.streams === 'stdout'
      ? ['stdout']
      : options.streams === 'stderr'
        ? ['stderr']
        : ['stdout', 'stderr'];
  const sink = (s: Stream): Sink => (s === 'stdout' ? options.stdout : options.stderr);

  for (let attempt = options.fromAttempt ?? 1; ; attempt++) {
    // Wait for the attempt to exist, or for the evaluation to end without it.
    let status = await options.status();
    while (status.attempt < attempt && status.phase !== 'Completed') {
      await sleep(pollMs, undefined, { signal });
      status = await options.status();
    }
    if (status.attempt < attempt) return;
    if (attempt > (options.fromAttempt ?? 1)) options.onAttempt?.(attempt);
    const counters = new Map<Stream, LineCounter>(wanted.map((s) => [s, new LineCounter(sink(s))]));

    if (options.kube !== null && status.namespace !== null) {
      await followLive(options.kube, status.namespace, status.evaluationId, attempt, counters, {
        status: options.status,
        pollMs,
        signal,
      });
    }

    // The rest from the stored log, from the first line the pod did not deliver.
    let logs: AttemptLogs | null = null;
    for (;;) {
      status = await options.status();
      const record = status.attempts.find((a) => a.attempt === attempt);
      logs = record?.logs ?? null;
      if (logs !== null || status.phase === 'Completed' || status.attempt > attempt) break;
      await sleep(pollMs, undefined, { signal });
    }
    if (logs !== null) {
      for (const s of wanted) {
        const key = logs.split
          ? s === 'stdout'
            ? logs.stdout
            : logs.stderr
          : s === 'stdout'
            ? logs.combined
            : null;
        if (key !== null) await printStored(options.store, key, counters.get(s)!.count, sink(s), signal);
      }
    }
    if (status.phase === 'Completed' && status.attempt <= attempt) return;
  }
}

async function followLive(
  kube: KubeClients,
  namespace: string,
  evaluationId: string,
  attempt: number,
  counters: Map<Stream, LineCounter>,
  o: { status: () => Promise<EvaluationStatus>; pollMs: number; signal: AbortSignal },
): Promise<void> {
  const selector = `${labelKeys.evaluationId}=${evaluationId},${labelKeys.attempt}=${attempt}`;
  let pod: string | null = null;
  while (pod === null) {
    const pods = await kube.core.listNamespacedPod({ namespace, labelSelector: selector });
    pod = pods.items.find(mainStarted)?.metadata?.name ?? null;
    if (pod !== null) break;
    const status = await o.status();
    const record = status.attempts.find((a) => a.attempt === attempt);
    // The attempt ended without a pod to read (never started, or already gone): storage has the rest.
    if (
      record?.finishedAt != null ||
      record?.logs != null ||
      status.phase === 'Completed' ||
      status.attempt > attempt
    )
      return;
    await sleep(o.pollMs, undefined, { signal: o.signal });
  }
  await Promise.all(
    [...counters].map(async ([stream, counter]) => {
      try {
        const response = await openGet(
          kube.config,
          `/api/v1/namespaces/${namespace}/pods/${pod}/log`,
          { container: 'main', follow: 'true', stream: stream === 'stdout' ? 'Stdout' : 'Stderr' },
          o.signal,
        );
        for await (const chunk of response) counter.push(chunk as Buffer);
      } catch (err) {
        if (o.signal.aborted) throw err;
        // The pod went away mid-stream: what it did not deliver comes from storage.
      }
    }),
  );
}

/** Prints a stored log from line `skip` on (0-based). */
async function printStored(
  store: ObjectStore,
  key: string,
  skip: number,
  sink: Sink,
  signal: AbortSignal,
): Promise<void> {
  const body = await orNullIfNotFound(store.get(key, { signal }));
  if (body === null) return;
  let toSkip = skip;
  for await (const raw of body) {
    let chunk = raw as Buffer;
    while (toSkip > 0 && chunk.length > 0) {
      const nl = chunk.indexOf(0x0a);
      if (nl < 0) {
        chunk = chunk.subarray(chunk.length);
        break;
      }
      chunk = chunk.subarray(nl + 1);
      toSkip--;
    }
    if (chunk.length > 0) sink.write(chunk);
  }
}
