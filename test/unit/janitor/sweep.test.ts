/**
 * The janitor's cluster sweep without a cluster: what it finds, what a 404 means, the counter. The real API server is
 * exercised by test/integration/evaluation-jobs.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { register } from 'prom-client';
import type { KubeClients } from '../../../src/kube/clients.js';
import { sweepCluster, type WorkflowState } from '../../../src/janitor/sweep.js';

const now = new Date('2026-12-01T12:00:00Z');
const old = '2026-12-01T11:00:00Z';
const labels = (id: string) => ({
  'app.kubernetes.io/managed-by': 'assay',
  'assay.dev/evaluation-id': id,
});
const meta = (name: string, id: string, created = old) => ({
  name,
  namespace: 'ns',
  labels: labels(id),
  creationTimestamp: new Date(created),
});
const notFound = () => new ApiException(404, 'Unknown API Status Code!', { reason: 'NotFound' }, {});
const silent = { info: () => undefined, warn: () => undefined };

async function fixesCounted(kind: string, mode: string): Promise<number> {
  const metric = register.getSingleMetric('assay_janitor_fixes_total');
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => v.labels.kind === kind && v.labels.mode === mode)?.value ?? 0;
}

/** Clients whose lists answer `items` and whose deletes run `remove`. */
function fakeKube(items: {
  policies?: object[];
  jobs?: object[];
  remove?: (what: string, name: string) => Promise<unknown>;
}): KubeClients & { removed: string[] } {
  const removed: string[] = [];
  const remove = async (what: string, name: string) => {
    removed.push(`${what} ${name}`);
    return (items.remove ?? (() => Promise.resolve({})))(what, name);
  };
  const empty = () => Promise.resolve({ items: [] });
  return {
    removed,
    core: { listNamespacedPod: empty, listPodForAllNamespaces: empty },
    batch: {
      listNamespacedJob: () => Promise.resolve({ items: items.jobs ?? [] }),
      deleteNamespacedJob: ({ name }: { name: string }) => remove('job', name),
    },
    networking: {
      listNamespacedNetworkPolicy: () => Promise.resolve({ items: items.policies ?? [] }),
      deleteNamespacedNetworkPolicy: ({ name }: { name: string }) => remove('network-policy', name),
    },
    config: { makeApiClient: () => ({ listNamespacedCustomObject: () => Promise.reject(notFound()) }) },
  } as unknown as KubeClients & { removed: string[] };
}

const gone = (): Promise<WorkflowState> => Promise.resolve({ state: 'missing' });

describe('sweepCluster', () => {
  it('treats a 404 on delete as done: the NetworkPolicy (or Job) was already gone', async () => {
    const kube = fakeKube({
      policies: [{ metadata: meta('assay-a-1-egress', 'a') }],
      jobs: [{ metadata: meta('assay-a-1', 'a') }],
      remove: () => Promise.reject(notFound()),
    });
    const before = await fixesCounted('network-policy', 'fixed');
    const report = await sweepCluster(
      { dryRun: false, namespace: 'ns' },
      { kube, workflowState: gone, log: silent, now: () => now },
    );
    expect(report.errors).toEqual([]);
    expect(report.fixes.map((f) => `${f.kind} ${f.name}`)).toEqual([
      'job assay-a-1',
      'network-policy assay-a-1-egress',
    ]);
    expect(kube.removed).toEqual(['job assay-a-1', 'network-policy assay-a-1-egress']);
    expect(await fixesCounted('network-policy', 'fixed')).toBe(before + 1);
  });

  it('reports any other failure as an error, not a fix', async () => {
    const kube = fakeKube({
      policies: [{ metadata: meta('assay-b-1-egress', 'b') }],
      remove: () => Promise.reject(new ApiException(403, 'Forbidden', {}, {})),
    });
    const report = await sweepCluster(
      { dryRun: false, namespace: 'ns' },
      { kube, workflowState: gone, log: silent, now: () => now },
    );
    expect(report.fixes).toEqual([]);
    expect(report.errors).toEqual([expect.stringMatching(/^network-policy ns\/assay-b-1-egress: /)]);
  });

  it('leaves objects of running evaluations and young objects alone', async () => {
    const kube = fakeKube({
      policies: [
        { metadata: meta('assay-run-1-egress', 'run') },
        { metadata: meta('assay-young-1-egress', 'young', '2026-12-01T11:59:00Z') },
      ],
    });
    const report = await sweepCluster(
      { dryRun: false, namespace: 'ns' },
      {
        kube,
        workflowState: (id) => Promise.resolve(id === 'run' ? { state: 'running' } : { state: 'missing' }),
        log: silent,
        now: () => now,
      },
    );
    expect(report.fixes).toEqual([]);
    expect(kube.removed).toEqual([]);
  });
});
