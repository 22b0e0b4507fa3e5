import { describe, expect, it } from '@jest/globals';
import {
  batchEvaluationId,
  batchSize,
  entryValues,
  expandEntry,
  parseEvaluationBatch,
  type ParsedBatch,
} from '../../../src/spec/evaluation-batch.js';

function batch(spec: Record<string, unknown> = {}, name: string | null = 'nightly'): unknown {
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationBatch',
    metadata: name === null ? {} : { name },
    spec: {
      template: {
        metadata: { labels: { model: '${{ matrix.model }}' } },
        spec: {
          team: 'ml',
          user: 'alice',
          image: 'python:3.12',
          args: ['--model', '${{ matrix.model }}', '--task=${{matrix.task}}'],
          env: [{ name: 'TASK', value: '${{ matrix.task }}' }],
        },
      },
      matrix: { model: ['a', 'b', 'c'], task: ['x', 'y', 'z', 7] },
      maxConcurrent: 4,
      ...spec,
    },
  };
}

function parsed(input: unknown, options = {}): ParsedBatch {
  const result = parseEvaluationBatch(input, options);
  if (!result.ok) throw new Error(JSON.stringify(result.issues));
  return result.value;
}

describe('EvaluationBatch', () => {
  it('expands a 3 × 4 matrix, first axis slowest, with substitution in args, env and labels', () => {
    const p = parsed(batch());
    expect(p.size).toBe(12);
    expect(batchSize(p.batch)).toBe(12);
    expect(entryValues(p.batch, 0)).toEqual({ model: 'a', task: 'x' });
    expect(entryValues(p.batch, 3)).toEqual({ model: 'a', task: '7' });
    expect(entryValues(p.batch, 4)).toEqual({ model: 'b', task: 'x' });
    expect(entryValues(p.batch, 11)).toEqual({ model: 'c', task: '7' });
    const entry = expandEntry(p, 5);
    if (!entry.ok) throw new Error(JSON.stringify(entry.issues));
    expect(entry.value.metadata.name).toBe('nightly-5');
    expect(entry.value.metadata.labels).toEqual({ model: 'b' });
    expect(entry.value.spec.args).toEqual(['--model', 'b', '--task=y']);
    expect(entry.value.spec.env).toEqual([{ name: 'TASK', value: 'y' }]);
    expect(entry.value.spec.resources.cpu).toBeDefined();
  });

  it('expands an explicit list of entries', () => {
    const p = parsed(
      batch({
        matrix: undefined,
        entries: [
          { model: 'm1', task: 't' },
          { model: 'm2', task: 'u' },
        ],
      }),
    );
    expect(p.size).toBe(2);
    const e = expandEntry(p, 1);
    expect(e.ok && e.value.spec.args).toEqual(['--model', 'm2', '--task=u']);
  });

  it('names re-runs and generated ids', () => {
    expect(batchEvaluationId('b', 3)).toBe('b-3');
    expect(batchEvaluationId('b', 3, 2)).toBe('b-3-r2');
    expect(parsed(batch({}, null), { generatedId: 'gen1' }).batchId).toBe('gen1');
  });

  it('refuses an unknown reference with its path', () => {
    const input = batch() as { spec: { template: { spec: { args: string[] } } } };
    input.spec.template.spec.args[1] = '${{ matrix.modle }}';
    const r = parseEvaluationBatch(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues[0]).toEqual({
      path: 'spec.template.spec.args[1]',
      message: 'unknown reference ${{ matrix.modle }}: the matrix has model, task',
    });
  });

  it('refuses a reference outside args, env and labels, and a reference that is not matrix.*', () => {
    const input = batch() as { spec: { template: { spec: Record<string, unknown> } } };
    input.spec.template.spec.image = 'python:${{ matrix.model }}';
    input.spec.template.spec.env = [{ name: 'X', value: '${{ secrets.token }}' }];
    const r = parseEvaluationBatch(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues.map((i) => i.path)).toEqual([
      'spec.template.spec.image',
      'spec.template.spec.env[0].value',
    ]);
    expect(r.issues[1]!.message).toMatch(/unknown reference \$\{\{ secrets.token \}\}/);
  });

  it('refuses an expansion larger than the configured maximum', () => {
    const r = parseEvaluationBatch(batch(), { maxEvaluations: 11 });
    expect(r).toEqual({
      ok: false,
      issues: [{ path: 'spec.matrix', message: 'expands to 12 evaluations, more than the maximum of 11' }],
    });
    const big = batch({
      matrix: { a: Array.from({ length: 101 }, (_, i) => i), b: Array.from({ length: 100 }, (_, i) => i) },
    });
    const r2 = parseEvaluationBatch(big);
    expect(r2.ok).toBe(false);
    if (!r2.ok)
      expect(r2.issues[0]!.message).toBe('expands to 10100 evaluations, more than the maximum of 10000');
  });

  it('names the template field and the entry when a substituted spec is invalid', () => {
    const input = batch({ matrix: { model: ['ok', 'Not A Label!'], task: ['x'] } });
    const r = parseEvaluationBatch(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.issues[0]!.path).toBe('spec.template.metadata.labels.model');
    expect(r.issues[0]!.message).toMatch(/\(entry 1: model=Not A Label!, task=x\)$/);
  });

  it('refuses matrix and entries together, and a batch id too long for its evaluation ids', () => {
    const both = parseEvaluationBatch(batch({ entries: [{ model: 'a', task: 'b' }] }));
    expect(both.ok === false && both.issues[0]).toEqual({
      path: 'spec.matrix',
      message: 'give exactly one of matrix and entries',
    });
    const long = parseEvaluationBatch(batch({}, 'x'.repeat(53)));
    expect(long.ok === false && long.issues[0]!.path).toBe('metadata.name');
  });
});
