/**
 * The cost measurement of one served cluster (docs/cost.md, "Measurement"): one shared usage sampler, the node reader
 * and the cluster's spot labels, handed to the wait activity.
 */
import type { KubeClients } from '../kube/clients.js';
import { orNullOn404 } from '../kube/clients.js';
import { pricingFor, type CostConfig } from '../spec/pricing-config.js';
import type { AttemptMeterDeps } from './attempt-meter.js';
import { createNodeUsageSampler, type NodeUsageSampler } from './usage.js';

export interface ClusterCostMeasurement {
  readonly meter: AttemptMeterDeps;
  readonly sampler: NodeUsageSampler;
}

export function clusterCostMeasurement(
  config: CostConfig,
  cluster: string,
  kube: KubeClients,
): ClusterCostMeasurement {
  const sampler = createNodeUsageSampler({
    intervalMs: config.sampleIntervalSeconds * 1000,
    readSummary: (node) => kube.core.connectGetNodeProxyWithPath({ name: node, path: 'stats/summary' }),
  });
  return {
    sampler,
    meter: {
      sampler,
      readNode: (name) => orNullOn404(kube.core.readNode({ name })),
      spotLabels: pricingFor(config, cluster).spotLabels,
    },
  };
}
