import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { mutateEvaluationJob, validateEvaluationJob } from '../../../src/admission/evaluation-job.js';
import type { AdmissionDecision, AdmissionRequest, KubeObject } from '../../../src/admission/review.js';
import { admissionResponse } from '../../../src/admission/review.js';
import type { NamespaceTeam, NamespaceTeams } from '../../../src/admission/teams.js';
import { userLabelFor } from '../../../src/admission/user-name.js';
import { convertEvaluationJob } from '../../../src/admission/conversion.js';
import { teamDefaultsSchema } from '../../../src/admission/team-defaults.js';

const namespaces: Record<string, string | undefined> = { 'ml-ns': 'ml-research', bare: undefined };
const teams: NamespaceTeams = {
  teamOf: (namespace) =>
    Promise.resolve<NamespaceTeam>(
      !(namespace in namespaces)
        ? { kind: 'missing' }
        : namespaces[namespace] === undefined
          ? { kind: 'unmapped' }
          : { kind: 'team', team: namespaces[namespace] },
    ),
};
const failingTeams: NamespaceTeams = { teamOf: () => Promise.reject(new Error('connection refused')) };

function minimal(): KubeObject {
  return parse(
    readFileSync(new URL('../../../examples/minimal.yaml', import.meta.url), 'utf8'),
  ) as KubeObject;
}

function request(object: KubeObject, extra: Partial<AdmissionRequest> = {}): AdmissionRequest {
  return {
    uid: 'uid-1',
    kind: { group: 'assay.dev', version: 'v1', kind: 'EvaluationJob' },
    resource: { group: 'assay.dev', version: 'v1', resource: 'evaluationjobs' },
    namespace: 'ml-ns',
    operation: 'CREATE',
    userInfo: { username: 'system:admin' },
    object,
    ...extra,
  };
}

/** Applies a decision's JSON patch (RFC 6902 add, replace and remove; RFC 6901 pointers), as the API server does. */
function patched(object: KubeObject, decision: AdmissionDecision): KubeObject {
  if (!decision.allowed) throw new Error(`refused: ${decision.refusal.message}`);
  const out = JSON.parse(JSON.stringify(object)) as KubeObject;
  for (const op of decision.patch ?? []) {
    const tokens = op.path
      .split('/')
      .slice(1)
      .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop()!;
    let parent: KubeObject = out;
    for (const token of tokens) {
      const next = parent[token];
      if (typeof next !== 'object' || next === null) throw new Error(`${op.op} ${op.path}: no parent`);
      parent = next as KubeObject;
    }
    if (op.op === 'add') parent[last] = op.value;
    else if (!(last in parent)) throw new Error(`${op.op} ${op.path}: nothing there`);
    else if (op.op === 'replace') parent[last] = op.value;
    else delete parent[last];
  }
  return out;
}

function refusal(decision: AdmissionDecision) {
  if (decision.allowed) throw new Error('allowed');
  return decision.refusal;
}

describe('userLabelFor', () => {
  it.each([
    ['system:admin', 'system-admin'],
    ['Ada.Lovelace@example.com', 'ada-lovelace'],
    ['system:serviceaccount:ci:runner', 'system-serviceaccount-ci-runner'],
    ['alice', 'alice'],
    ['@example.com', 'example-com'],
    ['--x--', 'x'],
    [`${'a'.repeat(62)}:b`, 'a'.repeat(62)],
  ])('%s → %s', (username, label) => {
    expect(userLabelFor(username)).toBe(label);
  });

  it.each([undefined, '', ':::'])('%p → nothing usable', (username) => {
    expect(userLabelFor(username)).toBeUndefined();
  });
});

describe('mutating webhook', () => {
  it('fills spec.team from the namespace label, spec.user from the authenticated user, and the defaults', async () => {
    const object = minimal();
    const spec = object.spec as KubeObject;
    delete spec.team;
    delete spec.user;
    const decision = await mutateEvaluationJob(request(object), teams);
    const result = patched(object, decision).spec as KubeObject;
    expect(result).toMatchObject({
      team: 'ml-research',
      user: 'system-admin',
      timeoutSeconds: 3600,
      priority: 'normal',
      resources: { cpu: '1', memory: '1Gi', limits: { cpu: '1', memory: '1Gi' } },
      retries: { maxAttempts: 3 },
    });
    expect(decision.allowed && decision.warnings).toEqual([
      expect.stringContaining('spec.team defaulted to "ml-research"'),
      expect.stringContaining('spec.user defaulted to "system-admin"'),
    ]);
  });

  it('keeps a given team and user, and is idempotent: a mutated object needs no further patch', async () => {
    const once = patched(minimal(), await mutateEvaluationJob(request(minimal()), teams));
    expect(once.spec).toMatchObject({ team: 'ml-research', user: 'alice' });
    expect(await mutateEvaluationJob(request(once), teams)).toEqual({ allowed: true });
    expect(await validateEvaluationJob(request(once), teams)).toEqual({ allowed: true });
  });

  it('patches a v1alpha1 object in its own shape', async () => {
    const alpha = convertEvaluationJob(minimal(), 'assay.dev/v1alpha1');
    const result = patched(alpha, await mutateEvaluationJob(request(alpha), teams)).spec as KubeObject;
    expect(result.resources).toBeUndefined();
    expect(result).toMatchObject({ cpu: '1', memory: '1Gi', limits: { cpu: '1' } });
  });

  it('on update, takes a missing team and user from the stored object, not from the namespace or the caller', async () => {
    const old = patched(minimal(), await mutateEvaluationJob(request(minimal()), teams));
    const edited = JSON.parse(JSON.stringify(old)) as KubeObject;
    delete (edited.spec as KubeObject).user;
    const decision = await mutateEvaluationJob(
      request(edited, { operation: 'UPDATE', oldObject: old }),
      teams,
    );
    expect(patched(edited, decision).spec).toEqual(old.spec);
  });

  it('leaves an invalid spec to the validating webhook, adding only team and user', async () => {
    const object = minimal();
    const spec = object.spec as KubeObject;
    delete spec.user;
    spec.timeoutSeconds = -1;
    const result = patched(object, await mutateEvaluationJob(request(object), teams)).spec as KubeObject;
    expect(result).toEqual({ ...spec, user: 'system-admin' });
  });

  describe('team defaults', () => {
    const teamDefaults = teamDefaultsSchema.parse({
      default: { priority: 'low', timeoutSeconds: 900, labels: { 'cost-center': 'shared', tier: 'batch' } },
      teams: { 'ml-research': { priority: 'high', labels: { 'cost-center': 'cc-1234' } } },
    });

    it('fills absent priority, timeout and cost labels from the team (over the default), with add operations only', async () => {
      const object = minimal();
      delete (object.spec as KubeObject).team; // the team comes from the namespace, and its defaults with it
      const decision = await mutateEvaluationJob(request(object), teams, teamDefaults);
      const result = patched(object, decision);
      expect(result.spec).toMatchObject({ team: 'ml-research', priority: 'high', timeoutSeconds: 900 });
      expect((result.metadata as KubeObject).labels).toEqual({ 'cost-center': 'cc-1234', tier: 'batch' });
      if (!decision.allowed) throw new Error('refused');
      // Nothing the manifest set is touched: it set only team-less fields, so every operation adds.
      expect(new Set(decision.patch?.map((op) => op.op))).toEqual(new Set(['add']));
      expect(decision.patch).toEqual(
        expect.arrayContaining([
          { op: 'add', path: '/metadata/labels', value: { 'cost-center': 'cc-1234', tier: 'batch' } },
          { op: 'add', path: '/spec/priority', value: 'high' },
          { op: 'add', path: '/spec/timeoutSeconds', value: 900 },
        ]),
      );
      expect(decision.warnings).toEqual(
        expect.arrayContaining([
          'spec.priority defaulted to "high", the default of team ml-research',
          'spec.timeoutSeconds defaulted to 900, the default of team ml-research',
          'metadata.labels.cost-center defaulted to "cc-1234", the default of team ml-research',
        ]),
      );
      // The stored object passes validation and needs no further patch.
      expect(await validateEvaluationJob(request(result), teams)).toEqual({ allowed: true });
      expect(await mutateEvaluationJob(request(result), teams, teamDefaults)).toEqual({ allowed: true });
    });

    it('never replaces what the manifest sets; a label is added beside the existing ones', async () => {
      const object = minimal();
      Object.assign(object.spec as KubeObject, { priority: 'normal', timeoutSeconds: 60 });
      object.metadata = { name: 'hello', labels: { 'cost-center': 'mine', 'a/b': 'c' } };
      const decision = await mutateEvaluationJob(request(object), teams, teamDefaults);
      const result = patched(object, decision);
      expect(result.spec).toMatchObject({ priority: 'normal', timeoutSeconds: 60 });
      expect((result.metadata as KubeObject).labels).toEqual({
        'cost-center': 'mine',
        'a/b': 'c',
        tier: 'batch',
      });
      if (!decision.allowed) throw new Error('refused');
      const paths = decision.patch!.map((op) => op.path);
      expect(paths).toContain('/metadata/labels/tier');
      expect(paths.filter((p) => /priority|timeoutSeconds|cost-center|a~1b/.test(p))).toEqual([]);
    });

    it('a team without an entry gets the default; without any, zod defaults', async () => {
      const other = { teamOf: () => Promise.resolve<NamespaceTeam>({ kind: 'team', team: 'other' }) };
      const object = minimal();
      delete (object.spec as KubeObject).team;
      const withDefault = patched(object, await mutateEvaluationJob(request(object), other, teamDefaults));
      expect(withDefault.spec).toMatchObject({ team: 'other', priority: 'low', timeoutSeconds: 900 });
      expect((withDefault.metadata as KubeObject).labels).toEqual({ 'cost-center': 'shared', tier: 'batch' });
      const none = patched(object, await mutateEvaluationJob(request(object), other));
      expect(none.spec).toMatchObject({ priority: 'normal', timeoutSeconds: 3600 });
      expect((none.metadata as KubeObject).labels).toBeUndefined();
    });

    it('on update, keeps the priority and timeout the resource was created with, so a replace is no spec change', async () => {
      const old = patched(minimal(), await mutateEvaluationJob(request(minimal()), teams, teamDefaults));
      expect(old.spec).toMatchObject({ priority: 'high', timeoutSeconds: 900 });
      const replaced = minimal(); // the manifest as written, sent again (kubectl replace)
      const changed = { ...teamDefaults, teams: { 'ml-research': { priority: 'low' as const } } };
      const updating = { operation: 'UPDATE' as const, oldObject: old };
      const result = patched(
        replaced,
        await mutateEvaluationJob(request(replaced, updating), teams, changed),
      );
      expect(result.spec).toEqual(old.spec);
      expect(await validateEvaluationJob(request(result, updating), teams)).toEqual({ allowed: true });
    });
  });

  it('refuses when the namespace cannot be read to default the team', async () => {
    const object = minimal();
    delete (object.spec as KubeObject).team;
    expect(refusal(await mutateEvaluationJob(request(object), failingTeams))).toMatchObject({
      code: 503,
      message: expect.stringContaining(
        'cannot read namespace ml-ns to default spec.team: connection refused',
      ),
    });
  });
});

describe('validating webhook', () => {
  it('refuses a namespace without a team label, saying how to map it', async () => {
    const decision = await validateEvaluationJob(request(minimal(), { namespace: 'bare' }), teams);
    expect(refusal(decision)).toMatchObject({
      code: 403,
      message: expect.stringContaining(
        'namespace bare is not mapped to a team: label it with assay.dev/team=<team> (kubectl label namespace bare assay.dev/team=<team>)',
      ),
    });
  });

  it("refuses a spec.team other than the namespace's team", async () => {
    const object = minimal();
    (object.spec as KubeObject).team = 'other';
    expect(refusal(await validateEvaluationJob(request(object), teams))).toMatchObject({
      code: 403,
      causes: [{ field: 'spec.team', message: expect.stringContaining('not the team of namespace ml-ns') }],
    });
  });

  it('reports every zod issue as a cause with its field path', async () => {
    const object = minimal();
    Object.assign(object.spec as KubeObject, {
      resources: { memory: '2Gi', limits: { memory: '1Gi' } },
      artifacts: { paths: ['/abs'] },
    });
    const found = refusal(await validateEvaluationJob(request(object), teams));
    expect(found.code).toBe(422);
    expect(found.causes).toEqual([
      {
        type: 'FieldValueInvalid',
        field: 'spec.resources.limits.memory',
        message: expect.stringContaining('below the request'),
      },
      {
        type: 'FieldValueInvalid',
        field: 'spec.artifacts.paths[0]',
        message: expect.stringContaining('relative'),
      },
    ]);
    expect(found.message).toMatch(
      /^EvaluationJob "hello" is invalid: spec\.resources\.limits\.memory: .*; spec\.artifacts\.paths\[0\]: /,
    );
    const response = admissionResponse('uid-1', { allowed: false, refusal: found });
    expect(response.response).toMatchObject({
      uid: 'uid-1',
      allowed: false,
      status: {
        code: 422,
        reason: 'Invalid',
        details: { kind: 'EvaluationJob', name: 'hello', causes: found.causes },
      },
    });
  });

  it('names v1alpha1 fields as the user wrote them', async () => {
    const object = minimal();
    (object.spec as KubeObject).resources = { memory: '2Gi', limits: { memory: '1Gi' } };
    const alpha = convertEvaluationJob(object, 'assay.dev/v1alpha1');
    expect(refusal(await validateEvaluationJob(request(alpha), teams)).causes?.[0]?.field).toBe(
      'spec.limits.memory',
    );
  });

  it('refuses a spec edit, naming the fields, and allows metadata edits and a re-apply of the same meaning', async () => {
    const old = patched(minimal(), await mutateEvaluationJob(request(minimal()), teams));
    const update = (object: KubeObject) =>
      validateEvaluationJob(request(object, { operation: 'UPDATE', oldObject: old }), teams);

    const edited = JSON.parse(JSON.stringify(old)) as KubeObject;
    Object.assign(edited.spec as KubeObject, { image: 'python:3.13', timeoutSeconds: 5 });
    const found = refusal(await update(edited));
    expect(found.message).toContain(
      'the spec is immutable once created (changed: spec.image, spec.timeoutSeconds)',
    );
    expect(found.causes?.map((c) => c.field)).toEqual(['spec.image', 'spec.timeoutSeconds']);

    const relabelled = { ...old, metadata: { ...(old.metadata as KubeObject), labels: { x: 'y' } } };
    expect(await update(relabelled)).toEqual({ allowed: true });
    // `cpu: 1` and `cpu: "1"`, or a default spelled out, mean the same spec.
    const respelled = JSON.parse(JSON.stringify(old)) as KubeObject;
    ((respelled.spec as KubeObject).resources as KubeObject).cpu = 1;
    expect(await update(respelled)).toEqual({ allowed: true });
  });

  it('refuses when the namespace cannot be read', async () => {
    expect(refusal(await validateEvaluationJob(request(minimal()), failingTeams))).toMatchObject({
      code: 503,
    });
  });
});
