import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import { parseEvaluationJob } from '../../../src/spec/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the real `assay` bin with the project's Node (the one running Jest), as `npx assay` would. */
function assay(args: string[], stdin?: string): Run {
  const result = spawnSync(process.execPath, ['bin/assay.js', ...args], {
    cwd: root,
    input: stdin ?? '',
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function normalisedExample(name: string): unknown {
  const result = parseEvaluationJob(parseYaml(readFileSync(`${root}examples/${name}`, 'utf8')));
  if (!result.ok) throw new Error(`examples/${name} should be valid`);
  return result.value;
}

describe('assay validate', () => {
  it('prints the normalised manifest as YAML and exits 0', () => {
    const run = assay(['validate', '-f', 'examples/minimal.yaml']);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(parseYaml(run.stdout)).toEqual(normalisedExample('minimal.yaml'));
    expect(run.stdout).toContain('memory: 1Gi');
    expect(run.stdout).toContain('priority: normal');
  });

  it('prints JSON with -o json', () => {
    const run = assay(['validate', '-f', 'examples/full.yaml', '-o', 'json']);
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(normalisedExample('full.yaml'));
  });

  it('prints every error as "path: message" on stderr and exits 2', () => {
    const run = assay(['validate', '-f', 'examples/invalid.yaml']);
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toContain('spec.resources.memory: "12 parsecs" is not a Kubernetes quantity');
    expect(lines).toContain('spec.retentionDayz: unknown field (did you mean "retentionDays"?)');
    expect(lines.length).toBeGreaterThanOrEqual(15);
    for (const line of lines) expect(line).toMatch(/^(metadata|spec)[\w.[\]"-]*: \S/);
  });

  it('reads JSON from stdin with -f -', () => {
    const manifest = {
      apiVersion: 'assay.dev/v1',
      kind: 'EvaluationJob',
      spec: { team: 'ml', user: 'bob', image: 'busybox' },
    };
    const run = assay(['validate', '-f', '-', '-o', 'json'], JSON.stringify(manifest));
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ spec: { user: 'bob', resources: { cpu: '1' } } });
  });

  it('exits 2 with a clear message for a missing file', () => {
    const run = assay(['validate', '-f', 'examples/no-such-file.yaml']);
    expect(run.status).toBe(2);
    expect(run.stderr).toBe('examples/no-such-file.yaml: no such file\n');
  });

  it('exits 2 with the line of a YAML syntax error', () => {
    const run = assay(['validate', '-f', '-'], 'apiVersion: assay.dev/v1\nspec: {team: [\n');
    expect(run.status).toBe(2);
    expect(run.stderr).toMatch(/^<stdin>: YAML syntax error: .*line \d+/);
  });

  it('exits 2 for duplicate keys, several documents, an empty file or a non-mapping', () => {
    const duplicate = assay(['validate', '-f', '-'], 'kind: EvaluationJob\nkind: EvaluationJob\n');
    expect(duplicate.status).toBe(2);
    expect(duplicate.stderr).toContain('YAML syntax error');
    const several = assay(['validate', '-f', '-'], 'a: 1\n---\nb: 2\n');
    expect([several.status, several.stderr]).toEqual([
      2,
      '<stdin> holds 2 YAML documents; expected one manifest\n',
    ]);
    const empty = assay(['validate', '-f', '-'], '# nothing\n');
    expect([empty.status, empty.stderr]).toEqual([
      2,
      '<stdin> is empty; expected an EvaluationJob manifest\n',
    ]);
    const list = assay(['validate', '-f', '-'], '- 1\n');
    expect([list.status, list.stderr]).toEqual([2, '<stdin>: must be a mapping, not a list\n']);
  });

  it('exits 2 for a usage mistake', () => {
    expect(assay(['validate']).status).toBe(2);
    expect(assay(['validate', '-f', 'examples/minimal.yaml', '-o', 'xml']).status).toBe(2);
  });
});
