/**
 * The EvaluationJob CRD and the admission webhooks on the real stack (docs/kubernetes.md): the stack's API server
 * calls `assay admission`, started here in-process on the stack's admission port. Only this file may own that port
 * (Jest runs files in parallel), so every admission case is here.
 *
 * Cases: the examples apply unchanged with `kubectl apply -f` and are stored with their defaults; team and user are
 * defaulted; an invalid resource is refused with field paths; a namespace without a team is refused; v1alpha1 is
 * stored as v1 and read back unchanged; a spec edit is refused; with the server down, other resources are unaffected
 * and EvaluationJobs are refused (failurePolicy Fail).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ApiException, CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { pino } from 'pino';
import { parse } from 'yaml';
import { startAdmission, type RunningAdmission } from '../../src/admission/main.js';
import { ADMISSION_DEFAULT_PORT } from '../../src/admission/defaults.js';
import { evaluationJobOrThrow } from '../../src/spec/evaluation-job.js';
import { specFromV1alpha1, specToV1alpha1 } from '../../src/spec/evaluation-job-v1alpha1.js';
import { isPortFree } from '../../src/stack/index.js';
import { runCommand, projectRoot } from '../support/cli.js';
import { waitFor } from '../support/wait-for.js';
import { connect, deleteNamespace, uniqueName } from './kube/cluster.js';

type Json = { [key: string]: unknown };

const c = connect();
const custom = c.kc.makeApiClient(CustomObjectsApi);
const group = 'assay.dev';
const plural = 'evaluationjobs';
const team = 'ml-research';
/** examples/full.yaml names its namespace; it is shared, so only created (and deleted) when missing. */
const fullNamespace = 'assay-ml-research';

let admission: RunningAdmission | undefined;
let mapped: string;
let unmapped: string;
let createdFullNamespace = false;

function example(path: string): Json {
  return parse(readFileSync(`${projectRoot}/examples/${path}`, 'utf8')) as Json;
}

function kubectl(...args: string[]) {
  return runCommand('kubectl', args);
}

async function createNamespace(name: string, labels: Record<string, string>): Promise<void> {
  await c.core.createNamespace({
    body: { metadata: { name, labels: { 'assay.dev/test': 'integration', ...labels } } },
  });
}

/**
 * The namespace examples/full.yaml names, labelled with its team: created when missing (and then deleted afterwards),
 * waited out while an earlier run's copy terminates, labelled when it exists without the label.
 */
async function ensureFullNamespace(): Promise<void> {
  await waitFor(
    async () => {
      try {
        await createNamespace(fullNamespace, { 'assay.dev/team': team });
        createdFullNamespace = true;
        return true;
      } catch (err) {
        if (!(err instanceof ApiException && err.code === 409)) throw err;
      }
      const ns = await c.core.readNamespace({ name: fullNamespace });
      if (ns.status?.phase === 'Terminating') return false;
      if (ns.metadata?.labels?.['assay.dev/team'] !== team) {
        await c.core.patchNamespace(
          { name: fullNamespace, body: { metadata: { labels: { 'assay.dev/team': team } } } },
          setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
        );
      }
      return true;
    },
    { what: `namespace ${fullNamespace} to be usable`, timeoutMs: 45_000, intervalMs: 500 },
  );
}

function job(name: string, spec: Json, apiVersion = 'assay.dev/v1'): Json {
  return { apiVersion, kind: 'EvaluationJob', metadata: { name }, spec };
}

async function create(namespace: string, body: Json, version = 'v1'): Promise<Json> {
  return (await custom.createNamespacedCustomObject({ group, version, namespace, plural, body })) as Json;
}

async function read(namespace: string, name: string, version = 'v1'): Promise<Json> {
  return (await custom.getNamespacedCustomObject({ group, version, namespace, plural, name })) as Json;
}

/** The API server's Status for a refused request. */
async function refused(request: Promise<unknown>): Promise<{
  code: number;
  message: string;
  details?: { causes?: { field?: string; message: string }[] };
}> {
  try {
    await request;
  } catch (err) {
    if (!(err instanceof ApiException)) throw err;
    const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as { message: string };
    return { code: err.code, ...body };
  }
  throw new Error('the request was accepted');
}

beforeAll(async () => {
  if (!(await isPortFree(ADMISSION_DEFAULT_PORT))) {
    throw new Error(
      `port ${ADMISSION_DEFAULT_PORT} is taken: stop the \`assay admission\` that runs there, this suite starts its own`,
    );
  }
  admission = await startAdmission({ env: process.env, logger: pino({ level: 'warn' }) });
  mapped = uniqueName('adm');
  unmapped = uniqueName('adm-bare');
  await Promise.all([createNamespace(mapped, { 'assay.dev/team': team }), createNamespace(unmapped, {})]);
  await ensureFullNamespace();
  // The API server may still have a connection from a previous run's server to forget: wait until a call passes.
  await waitFor(
    async () => {
      const probe = job(uniqueName('probe'), { image: 'busybox:1' });
      await custom.createNamespacedCustomObject({
        group,
        version: 'v1',
        namespace: mapped,
        plural,
        body: probe,
        dryRun: 'All',
      });
      return true;
    },
    { what: 'the API server to reach assay admission', timeoutMs: 30_000, intervalMs: 500 },
  );
}, 60_000);

afterAll(async () => {
  await admission?.stop();
  await custom
    .deleteNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: fullNamespace,
      plural,
      name: 'mmlu-llama-8b',
    })
    .catch(() => undefined);
  await Promise.all([
    deleteNamespace(c, mapped),
    deleteNamespace(c, unmapped),
    createdFullNamespace ? deleteNamespace(c, fullNamespace) : undefined,
  ]);
});

describe('EvaluationJob admission on the real API server', () => {
  it('applies the examples unchanged with kubectl apply -f, stored with their defaults; kubectl shows the columns and field docs', async () => {
    const minimal = await kubectl('apply', '-n', mapped, '-f', 'examples/minimal.yaml');
    expect(minimal.stderr).toBe('');
    expect(minimal.stdout).toBe('evaluationjob.assay.dev/hello created\n');
    const full = await kubectl('apply', '-f', 'examples/full.yaml');
    expect(full.stderr).toBe('');
    expect(full.code).toBe(0);

    // Stored exactly as `assay run -f` would run it: the normalised spec.
    expect((await read(mapped, 'hello')).spec).toEqual(
      JSON.parse(JSON.stringify(evaluationJobOrThrow(example('minimal.yaml')).spec)),
    );
    expect((await read(fullNamespace, 'mmlu-llama-8b')).spec).toEqual(
      JSON.parse(JSON.stringify(evaluationJobOrThrow(example('full.yaml')).spec)),
    );
    // Applying again changes nothing.
    expect((await kubectl('apply', '-n', mapped, '-f', 'examples/minimal.yaml')).stdout).toBe(
      'evaluationjob.assay.dev/hello unchanged\n',
    );

    const table = await kubectl('get', 'ej', '-n', mapped);
    expect(table.stdout.split('\n')[0]?.split(/\s+/)).toEqual([
      'NAME',
      'TEAM',
      'USER',
      'PHASE',
      'OUTCOME',
      'EXIT',
      'ATTEMPT',
      'AGE',
    ]);
    expect(table.stdout.split('\n')[1]).toMatch(/^hello\s+ml-research\s+alice\s+/);
    const explain = await kubectl('explain', 'evaluationjob.spec.resources');
    expect(explain.stdout).toContain('Compute resources of the main container');
    expect(explain.stdout).toContain('Limits; each defaults to its request and must not be below it.');
  });

  it('defaults spec.team from the namespace label and spec.user from the authenticated user', async () => {
    const created = await create(mapped, job('defaults', { image: 'busybox:1' }));
    expect(created.spec).toMatchObject({
      team,
      user: 'assay-admin', // the stack's admin kubeconfig authenticates as assay-admin
      timeoutSeconds: 3600,
      resources: { cpu: '1', memory: '1Gi', limits: { cpu: '1', memory: '1Gi' } },
    });
  });

  it('refuses an invalid resource, with every field path in the message and as a cause', async () => {
    const status = await refused(
      create(
        mapped,
        job('invalid', {
          image: 'busybox:1',
          resources: { memory: '2Gi', limits: { memory: '1Gi' } },
          artifacts: { paths: ['/abs'] },
        }),
      ),
    );
    expect(status.code).toBe(422);
    expect(status.message).toContain(
      'admission webhook "validate.evaluationjobs.assay.dev" denied the request',
    );
    expect(status.message).toContain('spec.resources.limits.memory: limit 1Gi is below the request 2Gi');
    expect(status.message).toContain('spec.artifacts.paths[0]: "/abs" must be relative');
    expect(status.details?.causes?.map((cause) => cause.field)).toEqual([
      'spec.resources.limits.memory',
      'spec.artifacts.paths[0]',
    ]);
  });

  it('refuses a resource in a namespace that is not mapped to a team', async () => {
    const status = await refused(create(unmapped, job('nowhere', { team, image: 'busybox:1' })));
    expect(status.code).toBe(403);
    expect(status.message).toContain(
      `namespace ${unmapped} is not mapped to a team: label it with assay.dev/team=<team>`,
    );
  });

  it('stores a v1alpha1 resource as v1 and reads it back as v1alpha1 unchanged', async () => {
    // Sent as stored (normalised), so "unchanged" means equal to what was sent.
    const v1Spec = JSON.parse(JSON.stringify(evaluationJobOrThrow(example('minimal.yaml')).spec)) as Json;
    const alphaSpec = specToV1alpha1(v1Spec) as Json;
    expect(alphaSpec).toMatchObject({ cpu: '1', memory: '1Gi', limits: { cpu: '1' } });
    const created = await create(mapped, job('old-shape', alphaSpec, 'assay.dev/v1alpha1'), 'v1alpha1');
    expect(created.spec).toEqual(alphaSpec);

    const asV1 = await read(mapped, 'old-shape', 'v1');
    expect(asV1.apiVersion).toBe('assay.dev/v1');
    expect(asV1.spec).toEqual(v1Spec);
    expect(specFromV1alpha1(alphaSpec)).toEqual(v1Spec);

    const asAlpha = await read(mapped, 'old-shape', 'v1alpha1');
    expect(asAlpha.apiVersion).toBe('assay.dev/v1alpha1');
    expect(asAlpha.spec).toEqual(alphaSpec);
    expect(asAlpha.metadata).toEqual(created.metadata);
  });

  it('refuses an edit of the spec, and lets metadata change', async () => {
    await create(mapped, job('fixed', { image: 'busybox:1' }));
    const patch = (body: Json) =>
      custom.patchNamespacedCustomObject(
        { group, version: 'v1', namespace: mapped, plural, name: 'fixed', body },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    const status = await refused(patch({ spec: { image: 'busybox:2', timeoutSeconds: 60 } }));
    expect(status.code).toBe(422);
    expect(status.message).toContain(
      'the spec is immutable once created (changed: spec.image, spec.timeoutSeconds)',
    );
    expect(status.details?.causes?.map((cause) => cause.field)).toEqual([
      'spec.image',
      'spec.timeoutSeconds',
    ]);
    const relabelled = (await patch({ metadata: { labels: { stage: 'two' } } })) as Json;
    expect(relabelled.metadata).toMatchObject({ labels: { stage: 'two' } });
    expect((relabelled.spec as Json).image).toBe('busybox:1');
  });

  it('with the admission server down, refuses EvaluationJobs and leaves every other resource alone', async () => {
    await admission?.stop();
    admission = undefined;
    await c.core.createNamespacedConfigMap({
      namespace: unmapped,
      body: { metadata: { name: 'unrelated' }, data: { a: 'b' } },
    });
    const status = await refused(create(mapped, job('while-down', { image: 'busybox:1' })));
    expect(status.message).toMatch(
      /failed calling webhook "mutate\.evaluationjobs\.assay\.dev": failed to call webhook: Post "https:\/\/127\.0\.0\.1:18443\/mutate\?timeout=5s": dial tcp 127\.0\.0\.1:18443: connect: connection refused/,
    );
    // What exists can still be read and deleted (no webhook on DELETE).
    await custom.deleteNamespacedCustomObject({
      group,
      version: 'v1',
      namespace: mapped,
      plural,
      name: 'fixed',
    });
  });
});
