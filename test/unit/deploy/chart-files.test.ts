/**
 * The Helm chart's static files: its CRD is deploy/crd's (the chart renders it from `files/`), and its values satisfy
 * its own schema's required keys. Rendering is tested with helm in test/integration/deploy-chart.test.ts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';

const root = process.cwd();
const chart = join(root, 'deploy/helm/assay');

describe('the Helm chart files', () => {
  it('carries the CRD of deploy/crd byte for byte (after npm run crd: cp deploy/crd/evaluationjobs.assay.dev.yaml deploy/helm/assay/files/)', async () => {
    const source = await readFile(join(root, 'deploy/crd/evaluationjobs.assay.dev.yaml'), 'utf8');
    const copy = await readFile(join(chart, 'files/evaluationjobs.assay.dev.yaml'), 'utf8');
    expect(copy).toBe(source);
  });

  it("Chart.yaml's appVersion is the project's version (the worker image's tag)", async () => {
    const meta = parse(await readFile(join(chart, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version: string };
    expect(meta.appVersion).toBe(pkg.version);
  });

  it('values.yaml names every top-level key values.schema.json allows, and only those', async () => {
    const values = parse(await readFile(join(chart, 'values.yaml'), 'utf8')) as Record<string, unknown>;
    const schema = JSON.parse(await readFile(join(chart, 'values.schema.json'), 'utf8')) as {
      properties: Record<string, unknown>;
    };
    const allowed = Object.keys(schema.properties).filter((k) => k !== 'global');
    expect(Object.keys(values).sort()).toEqual(allowed.sort());
  });
});
