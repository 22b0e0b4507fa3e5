/**
 * The probe of one registry cluster (docs/multi-cluster.md, "Health and capacity"): three Kubernetes requests —
 * `GET /readyz`, then `LIST nodes` and `LIST pods` (non-terminated, every namespace) side by side, both served from
 * the API server's watch cache (`resourceVersion=0`) — and one Temporal `DescribeTaskQueue` of the cluster's task
 * queue for its worker's pollers. Every request is bounded by the probe timeout; whatever fails (a missing kubeconfig
 * or context, a closed port, a server that does not answer or is not ready, no worker polling) becomes
 * `healthy: false` with the reason, never a throw.
 */
import type { Client } from '@temporalio/client';
// The package is CommonJS without named exports Node can see: its namespace through the default import.
import proto from '@temporalio/proto';
import type { KubeConfig } from '@kubernetes/client-node';
import {
  createKubeClients,
  KubeHttpError,
  kubeSourceOf,
  openGet,
  type KubeApiErrorHook,
} from '../kube/clients.js';
import { clusterTaskQueue } from '../spec/names.js';
import type { PlacementConfig } from '../spec/placement-config.js';
import type { ClusterEntry } from '../spec/worker-config.js';
import { clusterCapacity, evaluationPodCounts, type NodeLike, type PodLike } from './capacity.js';
import type { ClusterHealth, ClusterView } from './types.js';

/** How the probe reaches a cluster's API server: its credentials, or why there are none. */
export type KubeAccess = { readonly config: KubeConfig } | { readonly error: string };

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** The entry's credentials loaded, or the reason they cannot be (missing file, unknown context, no cluster). */
export function kubeAccessOf(
  entry: Pick<ClusterEntry, 'inCluster' | 'kubeconfig'>,
  onApiError?: KubeApiErrorHook,
): KubeAccess {
  try {
    const kube = createKubeClients(kubeSourceOf(entry), onApiError !== undefined ? { onApiError } : {});
    return { config: kube.config };
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? `: ${messageOf(err.cause)}` : '';
    const context = entry.kubeconfig?.context != null ? ` (context ${entry.kubeconfig.context})` : '';
    return { error: `bad kubeconfig: ${messageOf(err)}${context}${cause}` };
  }
}

/** A failed request in words: the status and the start of the body, the network error, or the timeout. */
export function requestFailure(err: unknown, timeoutMs: number): string {
  const name = typeof err === 'object' && err !== null && 'name' in err ? err.name : undefined;
  if (name === 'TimeoutError' || name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  if (err instanceof KubeHttpError) return `answered ${err.statusCode}: ${err.body.trim().slice(0, 200)}`;
  const code = typeof err === 'object' && err !== null && 'code' in err ? err.code : undefined;
  const message = messageOf(err);
  return typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
}

/** The body of a GET, bounded as a whole (connect, answer and body) by `timeoutMs`. */
async function getBody(
  config: KubeConfig,
  path: string,
  query: Record<string, string>,
  timeoutMs: number,
): Promise<string> {
  const response = await openGet(config, path, query, AbortSignal.timeout(timeoutMs));
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Milliseconds of a protobuf timestamp (seconds may be a Long). */
function timestampMs(
  ts: { seconds?: { toNumber(): number } | number | null; nanos?: number | null } | null | undefined,
): number {
  if (ts === null || ts === undefined) return 0;
  const seconds = typeof ts.seconds === 'number' ? ts.seconds : (ts.seconds?.toNumber() ?? 0);
  return seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
}

/**
 * Pollers of activity task queue `taskQueue` that polled within `livenessSeconds` (Temporal keeps listing a poller
 * for minutes after it has gone; a live worker renews its long poll about every minute while idle).
 */
export async function livePollers(
  client: Pick<Client, 'workflowService' | 'withDeadline' | 'options'>,
  taskQueue: string,
  options: { livenessSeconds: number; timeoutMs: number; now?: number },
): Promise<number> {
  const response = await client.withDeadline(Date.now() + options.timeoutMs, () =>
    client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
    }),
  );
  const cutoff = (options.now ?? Date.now()) - options.livenessSeconds * 1000;
  return (response.pollers ?? []).filter((p) => timestampMs(p.lastAccessTime) >= cutoff).length;
}

export interface ProbeDeps {
  /** The cluster's credentials, or why there are none; ignored for a `docker` entry. */
  readonly kube: KubeAccess;
  /** Live pollers of the cluster's task queue; rejects (or resolves null) when Temporal cannot say. */
  readonly pollers: () => Promise<number | null>;
  readonly settings: Pick<PlacementConfig, 'probeTimeoutSeconds' | 'gpuTypeLabel'>;
  readonly now?: () => number;
}

/** One probe's answer, and what it cost. */
export interface ProbeResult {
  readonly health: ClusterHealth;
  /** Kubernetes API requests made (3 for a reachable cluster, 1 for an unreachable one, 0 without credentials). */
  readonly apiRequests: number;
  readonly durationMs: number;
}

/** Reasons of an unhealthy cluster, joined; null when it is healthy. */
export function healthReason(problems: {
  api: string | null;
  nodes: string | null;
  worker: string | null;
}): string | null {
  const all = [problems.api, problems.nodes, problems.worker].filter((p): p is string => p !== null);
  return all.length > 0 ? all.join('; ') : null;
}

const emptyCapacity = (): ClusterHealth['capacity'] => ({
  cpuMillis: { free: 0, total: 0 },
  memoryBytes: { free: 0, total: 0 },
  gpus: {},
});

/** Probes one cluster; never throws. `lastSeen` is now when the API server answered, else null (the view keeps the last). */
export async function probeCluster(
  entry: ClusterEntry,
  deps: ProbeDeps,
  taskQueue: string,
): Promise<ProbeResult> {
  const now = deps.now ?? Date.now;
  const started = now();
  const timeoutMs = deps.settings.probeTimeoutSeconds * 1000;
  const queue = clusterTaskQueue(entry.name, taskQueue);
  const polled = deps.pollers().catch(() => null);
  let apiRequests = 0;
  let api: string | null = null;
  let nodesProblem: string | null = null;
  let lastSeen: string | null = null;
  let capacity = emptyCapacity();
  let counts = { running: 0, queued: 0 };
  let nodes: NonNullable<ClusterHealth['nodes']> | undefined;
  let largestNodeFree: NonNullable<ClusterHealth['largestNodeFree']> | undefined;
  if (entry.executor === 'docker') {
    // A Docker engine is reached only by its cluster worker: its health is that worker's liveness.
  } else if ('error' in deps.kube) {
    api = deps.kube.error;
  } else {
    const config = deps.kube.config;
    try {
      apiRequests++;
      await getBody(config, '/readyz', {}, timeoutMs);
      lastSeen = new Date(now()).toISOString();
    } catch (err) {
      api = `${err instanceof KubeHttpError ? 'API server not ready' : 'API server unreachable'}: ${requestFailure(err, timeoutMs)}`;
    }
    if (api === null) {
      apiRequests += 2;
      const [nodeList, podList] = await Promise.allSettled([
        getBody(config, '/api/v1/nodes', { resourceVersion: '0' }, timeoutMs),
        getBody(
          config,
          '/api/v1/pods',
          { resourceVersion: '0', fieldSelector: 'status.phase!=Succeeded,status.phase!=Failed' },
          timeoutMs,
        ),
      ]);
      if (nodeList.status === 'rejected')
        nodesProblem = `cannot list nodes: ${requestFailure(nodeList.reason, timeoutMs)}`;
      else if (podList.status === 'rejected')
        nodesProblem = `cannot list pods: ${requestFailure(podList.reason, timeoutMs)}`;
      else {
        try {
          const nodeItems = (JSON.parse(nodeList.value) as { items?: NodeLike[] }).items ?? [];
          const podItems = (JSON.parse(podList.value) as { items?: PodLike[] }).items ?? [];
          const summary = clusterCapacity(nodeItems, podItems, {
            gpuTypeLabel: deps.settings.gpuTypeLabel,
            gpuTypes: entry.gpuTypes,
          });
          capacity = summary.capacity;
          nodes = summary.nodes;
          largestNodeFree = summary.largestFree;
          counts = evaluationPodCounts(podItems, entry.namespaceTemplate);
          if (summary.nodes.schedulable === 0) {
            nodesProblem = `no schedulable Ready node (of ${summary.nodes.total})`;
          }
        } catch (err) {
          nodesProblem = `cannot read the node and pod lists: ${messageOf(err)}`;
        }
      }
    }
  }
  const pollers = await polled;
  const worker = pollers === 0 ? `no worker polls ${queue}` : null;
  const reason = healthReason({ api, nodes: nodesProblem, worker });
  return {
    health: {
      name: entry.name,
      healthy: reason === null,
      reason,
      cordoned: entry.cordoned,
      capacity,
      running: counts.running,
      queued: counts.queued,
      workerPollers: pollers,
      lastSeen,
      probedAt: new Date(now()).toISOString(),
      ...(nodes !== undefined ? { nodes } : {}),
      ...(largestNodeFree !== undefined ? { largestNodeFree } : {}),
    },
    apiRequests,
    durationMs: now() - started,
  };
}

export interface ClusterProberDeps {
  readonly registry: readonly ClusterEntry[];
  readonly settings: Pick<PlacementConfig, 'probeTimeoutSeconds' | 'gpuTypeLabel' | 'pollerLivenessSeconds'>;
  /** The workflow task queue; cluster queues are named after it. */
  readonly taskQueue: string;
  /** For the pollers of each cluster's queue; without it `workerPollers` is null and not part of health. */
  readonly temporal?: Pick<Client, 'workflowService' | 'withDeadline' | 'options'>;
  /** Told of failed Kubernetes requests (the worker's `assay_kube_api_errors_total`). */
  readonly onApiError?: (cluster: string, code: string) => void;
}

/** Every cluster's probe of one round, and what the round cost. */
export interface ProbeRound {
  readonly view: ClusterView;
  /** Kubernetes API requests per cluster. */
  readonly apiRequests: Record<string, number>;
  readonly durationMs: number;
}

/**
 * Probes every cluster of the registry side by side. Credentials are loaded once per cluster and kept; a cluster whose
 * credentials could not be loaded is tried again next round (a kubeconfig fixed on disk is picked up).
 */
export function createClusterProber(deps: ClusterProberDeps): { probe(): Promise<ProbeRound> } {
  const access = new Map<string, KubeAccess>();
  const accessOf = (entry: ClusterEntry): KubeAccess => {
    const known = access.get(entry.name);
    if (known !== undefined && !('error' in known)) return known;
    const hook = deps.onApiError;
    const loaded = kubeAccessOf(entry, hook && ((code) => hook(entry.name, code)));
    access.set(entry.name, loaded);
    return loaded;
  };
  const timeoutMs = deps.settings.probeTimeoutSeconds * 1000;
  return {
    async probe() {
      const started = Date.now();
      const results = await Promise.all(
        deps.registry.map((entry) =>
          probeCluster(
            entry,
            {
              kube: entry.executor === 'docker' ? { error: 'docker' } : accessOf(entry),
              pollers: async () => {
                const client = deps.temporal;
                if (client === undefined) return null;
                return await livePollers(client, clusterTaskQueue(entry.name, deps.taskQueue), {
                  livenessSeconds: deps.settings.pollerLivenessSeconds,
                  timeoutMs,
                });
              },
              settings: deps.settings,
            },
            deps.taskQueue,
          ),
        ),
      );
      return {
        view: Object.fromEntries(results.map((r) => [r.health.name, r.health])),
        apiRequests: Object.fromEntries(results.map((r) => [r.health.name, r.apiRequests])),
        durationMs: Date.now() - started,
      };
    },
  };
}
