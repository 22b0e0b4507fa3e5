/**
 * Measures one attempt for its cost while the wait activity watches its pod (docs/cost.md, "Measurement"): the node
 * it runs on and whether that node is spot (its labels, read once), the main container's requests and limits, and
 * its usage from the shared {@link NodeUsageSampler}. The running peak and CPU time are heartbeated with the wait's
 * resume point, so a wait retried after a worker crash keeps what was seen before.
 */
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { parseBytes, parseCpu } from '../spec/quantity.js';
import type { AttemptMeasurement } from '../spec/cost.js';
import { annotationKeys } from '../spec/kube-labels.js';
import type { NodeUsageSampler } from './usage.js';

const gpuResource = 'nvidia.com/gpu';

/** What the wait heartbeats of the measurement: small, numbers and names only. */
export interface MeterCheckpoint {
  node: string | null;
  spot: boolean | null;
  spotLabel: string | null;
  samples: number;
  peakMemoryBytes: number | null;
  cpuCoreSeconds: number | null;
  peakEphemeralStorageBytes: number | null;
}

export interface AttemptMeterDeps {
  readonly sampler: NodeUsageSampler;
  /** Reads a node (for its labels); null when it is gone. */
  readonly readNode: (name: string) => Promise<V1Node | null>;
  /** The labels that mark spot capacity on this cluster. */
  readonly spotLabels: readonly { key: string; values: readonly string[] }[];
  readonly onError?: (what: string, err: unknown) => void;
}

export interface AttemptMeter {
  /** Feeds every version of the attempt's pod the wait sees. */
  observe(pod: V1Pod): void;
  checkpoint(): MeterCheckpoint;
  /**
   * Stops sampling and returns the measurement (null when the pod was never seen). It waits for the node read still
   * under way, unless `awaitNodeRead` is false (an unreachable cluster: the node's spot label stays unknown, not spot).
   */
  finish(endedAt: Date, options?: { awaitNodeRead?: boolean }): Promise<AttemptMeasurement | null>;
  /** Stops sampling (idempotent). */
  stop(): void;
}

function cores(q: string | undefined): number | null {
  if (q === undefined) return null;
  const r = parseCpu(q);
  return r.ok ? r.value.millicores / 1000 : null;
}
function bytes(q: string | undefined): number | null {
  if (q === undefined) return null;
  const r = parseBytes(q);
  return r.ok ? r.value.bytes : null;
}

/** Whether `labels` mark spot capacity, and by which label. */
export function spotLabelOf(
  labels: Record<string, string> | undefined,
  spotLabels: AttemptMeterDeps['spotLabels'],
): string | null {
  for (const { key, values } of spotLabels) {
    const value = labels?.[key];
    if (value !== undefined && values.includes(value)) return `${key}=${value}`;
  }
  return null;
}

export function createAttemptMeter(
  deps: AttemptMeterDeps,
  options: { container: string; resume?: Partial<MeterCheckpoint> | undefined },
): AttemptMeter {
  const r = options.resume;
  const state: MeterCheckpoint = {
    node: r?.node ?? null,
    spot: r?.spot ?? null,
    spotLabel: r?.spotLabel ?? null,
    samples: r?.samples ?? 0,
    peakMemoryBytes: r?.peakMemoryBytes ?? null,
    cpuCoreSeconds: r?.cpuCoreSeconds ?? null,
    peakEphemeralStorageBytes: r?.peakEphemeralStorageBytes ?? null,
  };
  let pod: V1Pod | null = null;
  let untrack: (() => void) | null = null;
  let nodeRead: Promise<void> | null = null;
  const max = (a: number | null, b: number | null): number | null =>
    a === null ? b : b === null ? a : Math.max(a, b);

  return {
    observe(seen) {
      pod = seen;
      const node = seen.spec?.nodeName;
      const name = seen.metadata?.name;
      const namespace = seen.metadata?.namespace;
      if (node === undefined || name === undefined || namespace === undefined) return;
      state.node = node;
      // The node's labels at run time, read once per attempt (a resumed wait keeps what it read before).
      if (nodeRead === null && state.spot === null) {
        nodeRead = deps
          .readNode(node)
          .then((n) => {
            state.spotLabel = spotLabelOf(n?.metadata?.labels, deps.spotLabels);
            state.spot = state.spotLabel !== null;
          })
          .catch((err: unknown) => deps.onError?.(`reading node ${node}`, err));
      }
      const running = seen.status?.containerStatuses?.find((c) => c.name === options.container)?.state
        ?.running;
      if (untrack === null && running !== undefined) {
        untrack = deps.sampler.track({ node, namespace, pod: name, container: options.container }, (s) => {
          state.samples++;
          state.peakMemoryBytes = max(state.peakMemoryBytes, s.memoryBytes);
          // Cumulative: the latest is the largest.
          state.cpuCoreSeconds = max(state.cpuCoreSeconds, s.cpuCoreSeconds);
          state.peakEphemeralStorageBytes = max(state.peakEphemeralStorageBytes, s.ephemeralStorageBytes);
        });
      }
    },
    checkpoint() {
      return { ...state };
    },
    stop() {
      untrack?.();
      untrack = null;
    },
    async finish(endedAt, finishOptions) {
      untrack?.();
      untrack = null;
      if (finishOptions?.awaitNodeRead !== false) await nodeRead;
      if (pod === null && state.node === null) return null;
      const main = pod?.spec?.containers.find((c) => c.name === options.container);
      const requests = main?.resources?.requests ?? {};
      const limits = main?.resources?.limits ?? {};
      const gpuCount = Number(limits[gpuResource] ?? requests[gpuResource] ?? 0);
      return {
        node: state.node,
        spot: state.spot ?? false,
        spotLabel: state.spotLabel,
        requests: {
          cpuCores: cores(requests.cpu) ?? 0,
          memoryBytes: bytes(requests.memory) ?? 0,
          ephemeralStorageBytes: bytes(requests['ephemeral-storage']) ?? 0,
        },
        limits: {
          cpuCores: cores(limits.cpu),
          memoryBytes: bytes(limits.memory),
          ephemeralStorageBytes: bytes(limits['ephemeral-storage']),
        },
        gpu:
          Number.isFinite(gpuCount) && gpuCount > 0
            ? { count: gpuCount, type: pod?.metadata?.annotations?.[annotationKeys.gpuType] ?? null }
            : null,
        usage: {
          samples: state.samples,
          peakMemoryBytes: state.peakMemoryBytes,
          cpuCoreSeconds: state.cpuCoreSeconds,
          peakEphemeralStorageBytes: state.peakEphemeralStorageBytes,
        },
        observedEndAt: endedAt.toISOString(),
      };
    },
  };
}
