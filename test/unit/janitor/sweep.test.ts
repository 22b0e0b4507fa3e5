/**
 * The janitor's sweeps without a cluster or a store: what each finds, what a 404 means, the dry run, the counter.
 * The real API server and S3 are exercised by test/integration/evaluation-jobs.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { register } from 'prom-client';
import type { KubeClients } from '../../../src/kube/clients.js';
import { sweepCluster, type WorkflowState } from '../../../src/janitor/sweep.js';
import { sweepUploads } from '../../../src/janitor/uploads.js';
import { evaluationIdOfKey } from '../../../src/spec/storage-keys.js';
import type { MultipartUploadSummary } from '../../../src/storage/object-store.js';

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

describe('evaluationIdOfKey', () => {
  it.each([
    ['evaluations/abc-1/attempts/1/stdout.log', 'abc-1'],
    ['evaluations/abc/artifacts/x/y.bin', 'abc'],
    ['evaluations/abc', null],
    ['evaluations//x', null],
    ['evaluations/Not_An_Id/x', null],
    ['ledger/cost/2026/12/01/abc.json', null],
  ])('%s → %p', (key, id) => {
    expect(evaluationIdOfKey(key)).toBe(id);
  });
});

describe('sweepUploads', () => {
  function fakeStore(uploads: MultipartUploadSummary[], abort?: (key: string) => Promise<void>) {
    const aborted: string[] = [];
    return {
      aborted,
      listMultipartUploads: async function* (prefix: string) {
        await Promise.resolve();
        yield* uploads.filter((u) => u.key.startsWith(prefix));
      },
      abortMultipart: async (key: string, uploadId: string) => {
        aborted.push(`${key} ${uploadId}`);
        await (abort ?? (() => Promise.resolve()))(key);
      },
    };
  }
  const upload = (key: string, initiated: string | undefined, uploadId = 'u1'): MultipartUploadSummary => ({
    key,
    uploadId,
    initiated: initiated === undefined ? undefined : new Date(initiated),
  });
  const states: Record<string, WorkflowState> = {
    done: { state: 'closed', status: 'TERMINATED', closedAt: null },
    live: { state: 'running' },
  };
  const workflowState = (id: string): Promise<WorkflowState> =>
    Promise.resolve(states[id] ?? { state: 'missing' });

  it('aborts the old uploads of closed or missing evaluations only, asking Temporal once per evaluation', async () => {
    const store = fakeStore([
      upload('evaluations/done/attempts/1/stdout.log', old, 'u1'),
      upload('evaluations/done/attempts/1/stderr.log', old, 'u2'),
      upload('evaluations/gone/artifacts/big.bin', old, 'u3'),
      upload('evaluations/live/attempts/1/stdout.log', old, 'u4'),
      upload('evaluations/done/attempts/2/stdout.log', '2026-12-01T11:58:00Z', 'u5'), // too young
      upload('evaluations/done/attempts/3/stdout.log', undefined, 'u6'), // age unknown
    ]);
    const asked: string[] = [];
    const before = await fixesCounted('multipart-upload', 'fixed');
    const report = await sweepUploads(
      { dryRun: false },
      {
        store,
        workflowState: (id) => {
          asked.push(id);
          return workflowState(id);
        },
        log: silent,
        now: () => now,
      },
    );
    expect(store.aborted).toEqual([
      'evaluations/done/attempts/1/stdout.log u1',
      'evaluations/done/attempts/1/stderr.log u2',
      'evaluations/gone/artifacts/big.bin u3',
    ]);
    expect(report).toMatchObject({ dryRun: false, listed: 6, errors: [] });
    expect(report.fixes.map((f) => [f.evaluationId, f.workflow])).toEqual([
      ['done', 'TERMINATED'],
      ['done', 'TERMINATED'],
      ['gone', 'missing'],
    ]);
    expect(asked).toEqual(['done', 'gone', 'live']);
    expect(await fixesCounted('multipart-upload', 'fixed')).toBe(before + 3);
  });

  it('a dry run aborts nothing and counts as dry-run', async () => {
    const store = fakeStore([upload('evaluations/gone/attempts/1/stdout.log', old)]);
    const before = await fixesCounted('multipart-upload', 'dry-run');
    const report = await sweepUploads(
      { dryRun: true },
      { store, workflowState, log: silent, now: () => now },
    );
    expect(store.aborted).toEqual([]);
    expect(report.fixes).toHaveLength(1);
    expect(await fixesCounted('multipart-upload', 'dry-run')).toBe(before + 1);
  });

  it('reports an abort that fails and goes on with the others', async () => {
    const store = fakeStore(
      [
        upload('evaluations/gone/attempts/1/stdout.log', old, 'u1'),
        upload('evaluations/gone/attempts/1/stderr.log', old, 'u2'),
      ],
      (key) => (key.endsWith('stdout.log') ? Promise.reject(new Error('access denied')) : Promise.resolve()),
    );
    const report = await sweepUploads(
      { dryRun: false },
      { store, workflowState, log: silent, now: () => now },
    );
    expect(report.errors).toEqual([
      'multipart-upload evaluations/gone/attempts/1/stdout.log (u1): access denied',
    ]);
    expect(report.fixes.map((f) => f.uploadId)).toEqual(['u2']);
  });

  it('refuses a prefix outside evaluations/', async () => {
    await expect(
      sweepUploads({ dryRun: true, prefix: 'ledger/' }, { store: fakeStore([]), workflowState, log: silent }),
    ).rejects.toThrow('prefix: "ledger/" is not under evaluations/');
  });
});
