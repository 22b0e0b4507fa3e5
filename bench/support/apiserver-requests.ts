/**
 * Kubernetes API requests as the API server counts them (`apiserver_request_total` on its own `/metrics`), by
 * `verb resource[/subresource]`. The metric has no per-client label: every count includes the kubelet's, the
 * controllers' and anyone else's requests, so benchmarks compare two systems measured the same way in the same run.
 */
import { getText, type KubeClients } from '../../src/kube/clients.js';

export type Counts = Map<string, number>;

export async function scrapeRequests(kube: Pick<KubeClients, 'config'>): Promise<Counts> {
  const counts: Counts = new Map();
  for (const line of (await getText(kube.config, '/metrics')).split('\n')) {
    const m = /^apiserver_request_total\{([^}]*)\} (\S+)/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries(
      [...(m[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1] ?? '', x[2] ?? '']),
    );
    const key = `${labels.verb ?? '?'} ${labels.resource || '(non-resource)'}${labels.subresource ? `/${labels.subresource}` : ''}`;
    counts.set(key, (counts.get(key) ?? 0) + Number(m[2]));
  }
  return counts;
}

export function diff(after: Counts, before: Counts): Counts {
  const d: Counts = new Map();
  for (const [k, v] of after) {
    const x = v - (before.get(k) ?? 0);
    if (x > 0) d.set(k, x);
  }
  return d;
}

export const sum = (c: Counts): number => [...c.values()].reduce((a, b) => a + b, 0);

/** The `n` pairs with the most requests per run, as `verb resource 1.0, …`. */
export function top(c: Counts, runs: number, n = 8): string {
  return [...c.entries()]
    .map(([k, v]) => [k, v / runs] as const)
    .filter(([, v]) => v >= 0.1)
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${k} ${v.toFixed(1)}`)
    .join(', ');
}
