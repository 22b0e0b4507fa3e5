/**
 * Per-cluster gauges on the worker's `/metrics` (docs/multi-cluster.md, "Health and capacity"), read at scrape time
 * from the cluster monitor's view (one cached query serves every gauge of a scrape), so every worker of a queue
 * reports the same numbers. Resources: `cpu` in cores, `memory_bytes`, `gpu_<type>` in devices. No monitor: no series.
 */
import { Gauge, type Registry } from 'prom-client';
import type { ClusterHealth, ClusterView } from '../placement/types.js';

/** The `resource` label values of a cluster's capacity and their amounts (free or total). */
export function capacitySeries(
  capacity: ClusterHealth['capacity'],
  which: 'free' | 'total',
): [resource: string, value: number][] {
  return [
    ['cpu', capacity.cpuMillis[which] / 1000],
    ['memory_bytes', capacity.memoryBytes[which]],
    ...Object.entries(capacity.gpus).map(([type, c]): [string, number] => [`gpu_${type}`, c[which]]),
  ];
}

export function registerClusterMetrics(registry: Registry, view: () => Promise<ClusterView>): void {
  const clusters = async (): Promise<ClusterHealth[]> =>
    Object.values(await view().catch((): ClusterView => ({})));
  new Gauge({
    name: 'assay_cluster_healthy',
    help: "1 when the cluster monitor's last probe found the cluster healthy (API server ready, nodes, worker polling)",
    labelNames: ['cluster'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await clusters()) this.set({ cluster: c.name }, c.healthy ? 1 : 0);
    },
  });
  for (const which of ['free', 'total'] as const) {
    new Gauge({
      name: `assay_cluster_capacity_${which}`,
      help:
        which === 'free'
          ? 'Allocatable minus requested over the schedulable Ready nodes (cpu cores, memory bytes, gpus per type)'
          : 'Allocatable over the schedulable Ready nodes (cpu cores, memory bytes, gpus per type)',
      labelNames: ['cluster', 'resource'],
      registers: [registry],
      async collect() {
        this.reset();
        for (const c of await clusters())
          for (const [resource, value] of capacitySeries(c.capacity, which))
            this.set({ cluster: c.name, resource }, value);
      },
    });
  }
  new Gauge({
    name: 'assay_cluster_evaluations',
    help: "Assay's evaluation pods on the cluster by state (running, queued: pending)",
    labelNames: ['cluster', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await clusters()) {
        this.set({ cluster: c.name, state: 'running' }, c.running);
        this.set({ cluster: c.name, state: 'queued' }, c.queued);
      }
    },
  });
  new Gauge({
    name: 'assay_cluster_worker_pollers',
    help: "Live pollers of the cluster's task queue (its cluster worker)",
    labelNames: ['cluster'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await clusters())
        if (c.workerPollers !== null) this.set({ cluster: c.name }, c.workerPollers);
    },
  });
  new Gauge({
    name: 'assay_cluster_last_seen_timestamp_seconds',
    help: "When the probe last reached the cluster's API server (Unix seconds)",
    labelNames: ['cluster'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const c of await clusters())
        if (c.lastSeen !== null) this.set({ cluster: c.name }, Date.parse(c.lastSeen) / 1000);
    },
  });
}
