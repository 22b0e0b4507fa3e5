/**
 * This worker's recent placements, until the probe's view can show them (docs/multi-cluster.md, "Selection"): without
 * them, every evaluation placed between two probes would see the same view and go to the same cluster.
 */
import type { ClusterView, ResourceRequest } from './types.js';

/**
 * Placements this worker made that the view does not show yet (the probe ran before their pods existed), summed per
 * cluster: selection counts them as queued and subtracts what they asked for from the free capacity.
 */
export interface PendingUse {
  evaluations: number;
  cpuMillis: number;
  memoryBytes: number;
  /** GPUs by type; `*` for requests that named no type. */
  gpus: Record<string, number>;
}

/** Adds one evaluation's request to `pending[cluster]`. */
export function addPending(
  pending: Record<string, PendingUse>,
  cluster: string,
  request: ResourceRequest | null | undefined,
): void {
  const use = (pending[cluster] ??= { evaluations: 0, cpuMillis: 0, memoryBytes: 0, gpus: {} });
  use.evaluations += 1;
  use.cpuMillis += request?.cpuMillis ?? 0;
  use.memoryBytes += request?.memoryBytes ?? 0;
  const gpus = request?.gpus;
  if (gpus !== null && gpus !== undefined && gpus.count > 0) {
    const type = gpus.type ?? '*';
    use.gpus[type] = (use.gpus[type] ?? 0) + gpus.count;
  }
}

export interface PendingOptions {
  /** How long after a placement a probe must have run to show it (its Job and pod created). Default 30 s. */
  settleMs?: number;
  /** A placement older than this is dropped whatever the view says. Default 10 min. */
  maxAgeMs?: number;
}

/** Placements by time (milliseconds since the epoch, given by the caller), summed per cluster on demand. */
export class PendingPlacements {
  private placements: { cluster: string; at: number; request: ResourceRequest | null }[] = [];
  private readonly settleMs: number;
  private readonly maxAgeMs: number;

  constructor(options: PendingOptions = {}) {
    this.settleMs = options.settleMs ?? 30_000;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
  }

  add(cluster: string, request: ResourceRequest | null | undefined, at: number): void {
    this.placements.push({ cluster, at, request: request ?? null });
  }

  /** The placements `view` does not show yet, by cluster; forgets those it shows and those too old to matter. */
  pending(view: ClusterView, now: number): Record<string, PendingUse> {
    this.placements = this.placements.filter((p) => {
      const probedAt = view[p.cluster]?.probedAt;
      const seen = probedAt !== undefined && Date.parse(probedAt) >= p.at + this.settleMs;
      return !seen && now - p.at <= this.maxAgeMs;
    });
    const pending: Record<string, PendingUse> = {};
    for (const p of this.placements) addPending(pending, p.cluster, p.request);
    return pending;
  }
}
