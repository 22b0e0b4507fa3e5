/**
 * An evaluation's resources as selection counts them: its requests (not limits), in millicores, bytes and devices.
 * Pure, so workflows may import it.
 */
import { demandOf } from '../quota/admission.js';
import type { ResourceRequest } from './types.js';

/** The request of a spec's normalised resources (quantities already canonical, e.g. `"500m"`, `"1Gi"`). */
export function resourceRequestOf(resources: Parameters<typeof demandOf>[0]): ResourceRequest {
  const demand = demandOf(resources);
  const gpu = resources.gpu;
  return {
    cpuMillis: demand.cpu,
    memoryBytes: demand.memory,
    gpus: gpu !== null && gpu.count > 0 ? { count: gpu.count, type: gpu.type } : null,
  };
}
