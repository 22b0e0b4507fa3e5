import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { evaluationJobCrd, v1alpha1DeprecationWarning } from '../../../src/spec/crd.js';
import { v1alpha1ResourceFields } from '../../../src/spec/evaluation-job-v1alpha1.js';
import type { JsonObject } from '../../../src/spec/json-schema.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const committedPath = new URL('../../../deploy/crd/evaluationjobs.assay.dev.yaml', import.meta.url);

function committed(): JsonObject {
  return parse(readFileSync(committedPath, 'utf8')) as JsonObject;
}

type Version = {
  name: string;
  served: boolean;
  storage: boolean;
  deprecated?: boolean;
  deprecationWarning?: string;
  subresources: JsonObject;
  additionalPrinterColumns: { name: string; jsonPath: string; type: string }[];
  schema: { openAPIV3Schema: { properties: Record<string, { properties: Record<string, JsonObject> }> } };
};

function versions(crd: JsonObject): Record<string, Version> {
  const list = (crd.spec as { versions: Version[] }).versions;
  return Object.fromEntries(list.map((v) => [v.name, v]));
}

describe('EvaluationJob CRD', () => {
  it('is committed up to date in deploy/crd/evaluationjobs.assay.dev.yaml', () => {
    // If this fails, regenerate with:
    //   npm run --silent crd > deploy/crd/evaluationjobs.assay.dev.yaml && npx prettier --write deploy/crd/evaluationjobs.assay.dev.yaml
    expect(committed()).toEqual(evaluationJobCrd());
  });

  it('is what `npm run crd` prints', () => {
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/spec/export-crd.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    // Compared as data, so formatting (Prettier) does not matter.
    expect(parse(run.stdout)).toEqual(committed());
  }, 60_000);

  it('names the resource, short name ej, category assay, a conversion webhook', () => {
    const crd = committed();
    expect(crd.metadata).toEqual({ name: 'evaluationjobs.assay.dev' });
    expect(crd.spec).toMatchObject({
      group: 'assay.dev',
      scope: 'Namespaced',
      names: { plural: 'evaluationjobs', kind: 'EvaluationJob', shortNames: ['ej'], categories: ['assay'] },
      conversion: { strategy: 'Webhook', webhook: { conversionReviewVersions: ['v1'] } },
    });
  });

  it('stores v1 and serves v1alpha1 deprecated, both with the status subresource and printer columns', () => {
    const { v1, v1alpha1 } = versions(committed());
    expect(v1).toMatchObject({ served: true, storage: true, subresources: { status: {} } });
    expect(v1?.deprecated).toBeUndefined();
    expect(v1alpha1).toMatchObject({
      served: true,
      storage: false,
      deprecated: true,
      deprecationWarning: v1alpha1DeprecationWarning,
      subresources: { status: {} },
    });
    for (const version of [v1, v1alpha1]) {
      expect(version?.additionalPrinterColumns.map((c) => c.name)).toEqual([
        'Team',
        'User',
        'Phase',
        'Outcome',
        'Exit',
        'Attempt',
        'Age',
      ]);
    }
  });

  it('has the resource fields under spec.resources in v1 and directly on spec in v1alpha1', () => {
    const { v1, v1alpha1 } = versions(committed());
    const v1Spec = v1!.schema.openAPIV3Schema.properties.spec!.properties;
    const alphaSpec = v1alpha1!.schema.openAPIV3Schema.properties.spec!.properties;
    expect(alphaSpec.resources).toBeUndefined();
    const resources = (v1Spec.resources as { properties: Record<string, JsonObject> }).properties;
    for (const field of v1alpha1ResourceFields) expect(alphaSpec[field]).toEqual(resources[field]);
    const { resources: _resources, ...v1Rest } = v1Spec;
    const alphaRest = Object.fromEntries(
      Object.entries(alphaSpec).filter(
        ([key]) => !(v1alpha1ResourceFields as readonly string[]).includes(key),
      ),
    );
    expect(alphaRest).toEqual(v1Rest);
    // kubectl explain evaluationjob.spec.resources shows the zod descriptions.
    expect(v1Spec.resources?.description).toMatch(/^Compute resources of the main container/);
  });

  it('publishes no schema default for the fields assay admission defaults per team (the API server would fill them first)', () => {
    for (const version of Object.values(versions(committed()))) {
      const spec = version.schema.openAPIV3Schema.properties.spec!.properties;
      expect(spec.priority).not.toHaveProperty('default');
      expect(spec.timeoutSeconds).not.toHaveProperty('default');
      expect(spec.priority?.description).toBe(
        'low, normal or high. Default: the team\'s (assay admission\'s teamDefaults), else "normal".',
      );
      expect(spec.retentionDays).toHaveProperty('default', 30); // the others keep theirs
    }
  });

  it('has a typed status (no preserve-unknown-fields) with Kubernetes-style conditions', () => {
    const status = versions(committed()).v1!.schema.openAPIV3Schema.properties.status!;
    expect(JSON.stringify(status)).not.toContain('preserve-unknown-fields');
    expect(Object.keys(status.properties)).toEqual([
      'phase',
      'outcome',
      'reason',
      'exitCode',
      'attempt',
      'queuePosition',
      'evaluationId',
      'recordKey',
      'startedAt',
      'finishedAt',
      'observedGeneration',
      'conditions',
    ]);
    expect(status.properties.conditions).toMatchObject({
      type: 'array',
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['type'],
      items: { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
    });
  });
});
