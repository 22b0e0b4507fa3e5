/**
 * Counts the controller's requests to the Kubernetes API and to Temporal, by API and verb: what docs/kubernetes.md
 * quotes as "requests per evaluation", and the `assay_controller_api_requests_total` metric.
 *
 * @packageDocumentation
 */
import { Counter, type Registry } from 'prom-client';

export type RequestApi = 'kube' | 'temporal';

export interface RequestCounter {
  count(api: RequestApi, verb: string): void;
  /** `{ 'kube:patchStatus': 3, 'temporal:query': 12, … }` */
  snapshot(): Record<string, number>;
  total(api?: RequestApi): number;
}

export function createRequestCounter(registry?: Registry): RequestCounter {
  const counts = new Map<string, number>();
  const metric =
    registry !== undefined
      ? new Counter({
          name: 'assay_controller_api_requests_total',
          help: 'Requests the EvaluationJob controller made, by API (kube, temporal) and verb',
          labelNames: ['api', 'verb'],
          registers: [registry],
        })
      : null;
  return {
    count(api, verb) {
      const key = `${api}:${verb}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
      metric?.inc({ api, verb });
    },
    snapshot: () => Object.fromEntries([...counts.entries()].sort(([a], [b]) => a.localeCompare(b))),
    total(api) {
      let sum = 0;
      for (const [key, n] of counts) if (api === undefined || key.startsWith(`${api}:`)) sum += n;
      return sum;
    },
  };
}
