/**
 * Usage sampling from the kubelet's summary API (`/api/v1/nodes/<node>/proxy/stats/summary`, through the API server),
 * shared by every attempt on a node: one request per node per interval, whatever the number of evaluations on it
 * (docs/cost.md, "Measurement").
 */
import { z } from 'zod';

/** One sample of one pod's main container. */
export interface ContainerSample {
  /** Cumulative CPU time of the container, in core-seconds. */
  cpuCoreSeconds: number | null;
  /** The container's working set (what the OOM killer and OpenCost count), in bytes. */
  memoryBytes: number | null;
  /** The pod's ephemeral storage in use (writable layers, emptyDirs, logs), in bytes. */
  ephemeralStorageBytes: number | null;
}

const num = z.number().nonnegative().optional();
/** The few parts of the summary that are read; everything else is ignored. */
const summarySchema = z.object({
  pods: z
    .array(
      z.object({
        podRef: z.object({ name: z.string(), namespace: z.string() }),
        containers: z
          .array(
            z.object({
              name: z.string(),
              cpu: z.object({ usageCoreNanoSeconds: num }).optional(),
              memory: z.object({ workingSetBytes: num }).optional(),
            }),
          )
          .optional(),
        'ephemeral-storage': z.object({ usedBytes: num }).optional(),
      }),
    )
    .default([]),
});

/** Reads a node's summary; the default goes through the API server's node proxy. */
export type ReadSummary = (node: string, signal: AbortSignal) => Promise<unknown>;

export interface NodeUsageSampler {
  /**
   * Samples `container` of `namespace/pod` on `node` now and every interval until the returned function is called.
   * A failed read is skipped (the next one may work); usage is then a lower bound, and the request still counts.
   */
  track(
    target: { node: string; namespace: string; pod: string; container: string },
    onSample: (sample: ContainerSample) => void,
  ): () => void;
  /** Requests sent so far (for tests and benchmarks). */
  readonly requests: number;
  stopAll(): void;
}

interface NodeState {
  timer: NodeJS.Timeout;
  subscribers: Map<
    number,
    { namespace: string; pod: string; container: string; onSample: (s: ContainerSample) => void }
  >;
  inFlight: boolean;
}

export function createNodeUsageSampler(options: {
  readSummary: ReadSummary;
  intervalMs: number;
  onError?: (node: string, err: unknown) => void;
}): NodeUsageSampler {
  const nodes = new Map<string, NodeState>();
  const abort = new AbortController();
  let nextId = 0;
  let requests = 0;

  async function sample(node: string): Promise<void> {
    const state = nodes.get(node);
    if (state === undefined || state.inFlight) return;
    state.inFlight = true;
    requests++;
    try {
      const raw = await options.readSummary(node, abort.signal);
      const parsed = summarySchema.safeParse(typeof raw === 'string' ? JSON.parse(raw) : raw);
      if (!parsed.success) throw new Error(`unexpected summary from node ${node}: ${parsed.error.message}`);
      for (const sub of state.subscribers.values()) {
        const pod = parsed.data.pods.find(
          (p) => p.podRef.name === sub.pod && p.podRef.namespace === sub.namespace,
        );
        const container = pod?.containers?.find((c) => c.name === sub.container);
        if (pod === undefined || container === undefined) continue;
        const cpu = container.cpu?.usageCoreNanoSeconds;
        sub.onSample({
          cpuCoreSeconds: cpu === undefined ? null : cpu / 1e9,
          memoryBytes: container.memory?.workingSetBytes ?? null,
          ephemeralStorageBytes: pod['ephemeral-storage']?.usedBytes ?? null,
        });
      }
    } catch (err) {
      if (!abort.signal.aborted) options.onError?.(node, err);
    } finally {
      state.inFlight = false;
    }
  }

  return {
    get requests() {
      return requests;
    },
    track(target, onSample) {
      const id = nextId++;
      let state = nodes.get(target.node);
      if (state === undefined) {
        const timer = setInterval(() => void sample(target.node), options.intervalMs);
        timer.unref();
        state = { timer, subscribers: new Map(), inFlight: false };
        nodes.set(target.node, state);
      }
      state.subscribers.set(id, { ...target, onSample });
      // The first sample at once: an attempt shorter than the interval is still seen.
      void sample(target.node);
      return () => {
        const current = nodes.get(target.node);
        if (current === undefined) return;
        current.subscribers.delete(id);
        if (current.subscribers.size === 0) {
          clearInterval(current.timer);
          nodes.delete(target.node);
        }
      };
    },
    stopAll() {
      abort.abort();
      for (const state of nodes.values()) clearInterval(state.timer);
      nodes.clear();
    },
  };
}
