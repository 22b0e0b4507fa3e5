/**
 * Placement's shared shapes (docs/multi-cluster.md): what the probe knows of each cluster (the view), what an
 * evaluation asks for, and what selection answers — an ordered list of candidates with their scores and the reason
 * each excluded cluster was left out. Plain data: the answer is recorded in workflow history.
 */

/** Free and total amounts of one resource on a cluster (CPU in millicores, memory in bytes, GPUs in devices). */
export interface Capacity {
  free: number;
  total: number;
}

/** What the probe last saw of one cluster. */
export interface ClusterHealth {
  name: string;
  /** False when the API server is not ready, unreachable, or the cluster's worker is not polling its queue. */
  healthy: boolean;
  /** Why it is unhealthy (or null): e.g. `API server unreachable: connect ECONNREFUSED 10.0.0.1:6443`. */
  reason: string | null;
  /** The registry's cordon flag, copied so a reader of the view needs nothing else. */
  cordoned: boolean;
  /** Allocatable minus requested over the cluster's schedulable nodes. */
  capacity: {
    cpuMillis: Capacity;
    memoryBytes: Capacity;
    /** By GPU type (the node label the registry names, or `nvidia.com/gpu` counted as type `gpu`). */
    gpus: Record<string, Capacity>;
  };
  /** Evaluation pods running now. */
  running: number;
  /** Evaluation pods pending (not yet scheduled or not yet started). */
  queued: number;
  /** Pollers seen on the cluster's task queue (its cluster worker), or null when not asked. */
  workerPollers: number | null;
  /** When the probe last reached the cluster's API server (ISO 8601), or null if never. */
  lastSeen: string | null;
  /** When this entry was written (ISO 8601). */
  probedAt: string;
  /** Nodes listed, and those that take evaluation pods (Ready, not cordoned, no NoSchedule/NoExecute taint). */
  nodes?: { total: number; schedulable: number };
  /**
   * Per resource, the most free on any one schedulable node (each resource's own node): an evaluation asking for
   * more than this fits on no node, whatever the cluster's total free.
   */
  largestNodeFree?: { cpuMillis: number; memoryBytes: number; gpus: Record<string, number> };
}

/** The probe's view of every cluster in the registry, by name. */
export type ClusterView = Readonly<Record<string, ClusterHealth>>;

/** What one evaluation needs of a cluster, in the units of {@link Capacity}. */
export interface ResourceRequest {
  cpuMillis: number;
  memoryBytes: number;
  gpus: { count: number; type: string | null } | null;
}

/** One cluster that fits, with its score and the terms that made it (see docs/multi-cluster.md for the formula). */
export interface Candidate {
  name: string;
  score: number;
  /** Each term of the score, already weighted, by name (e.g. `headroom`, `price`, `spread`, `weight`). */
  terms: Record<string, number>;
}

/** A cluster left out, and why (e.g. `cordoned`, `unhealthy: API server unreachable`, `needs 4 CPU, max 2`). */
export interface Exclusion {
  name: string;
  reason: string;
  /**
   * True when the cluster's state left it out (unhealthy, at its concurrency limit, too small as probed), not the
   * evaluation's requirements: it may fit after the next probe.
   */
  transient?: boolean;
}

/** Selection's answer: candidates best first, and every cluster that was left out. */
export interface Placement {
  candidates: Candidate[];
  excluded: Exclusion[];
}
