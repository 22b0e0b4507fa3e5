/** `assay status` says why the evaluation runs on its cluster: the choice's reason, the candidates, the exclusions. */
import { describe, expect, it } from '@jest/globals';
import { printStatus } from '../../../src/client/cli/evaluation-common.js';
import { evaluationStatusSchema, type EvaluationStatus } from '../../../src/spec/record.js';

function status(placement: EvaluationStatus['placement']): EvaluationStatus {
  return evaluationStatusSchema.parse({
    evaluationId: 'e1',
    phase: 'Running',
    outcome: null,
    reason: null,
    cluster: placement === null ? null : 'b',
    namespace: placement === null ? null : 'assay-ml',
    ...(placement !== undefined ? { placement } : {}),
    attempt: 1,
    maxAttempts: 2,
    job: null,
    pod: null,
    timings: { submittedAt: '2026-12-02T10:00:00.000Z', startedAt: null, finishedAt: null },
    attempts: [],
    recordKey: 'records/e1.json',
    nextAttemptAt: null,
  });
}

function render(s: EvaluationStatus, format: 'table' | 'json' = 'table'): string {
  let out = '';
  printStatus(
    { stdout: { write: (c) => (out += String(c)) }, stderr: { write: () => true } },
    format,
    s,
    null,
  );
  return out;
}

describe('assay status: why this cluster', () => {
  const placement = {
    reason: 'best score 0.72 of b 0.72, local 0.63 (headroom 0.30, price 0.20, spread 0.22)',
    candidates: [
      { name: 'b', score: 0.72, terms: { headroom: 0.3, price: 0.2, spread: 0.22 } },
      { name: 'local', score: 0.63, terms: { headroom: 0.21, price: 0.2, spread: 0.22 } },
    ],
    excluded: [
      { name: 'gpu', reason: 'cordoned' },
      { name: 'far', reason: 'unhealthy: API server unreachable', transient: true },
    ],
  };

  it('shows the reason, each candidate with its score and terms, and each exclusion with its reason', () => {
    const out = render(status(placement));
    expect(out).toContain('chosen because');
    expect(out).toContain(placement.reason);
    expect(out).toMatch(/candidates\s*│?\s*b 0\.72 \(headroom 0\.30, price 0\.20, spread 0\.22\)/);
    expect(out).toContain('local 0.63 (headroom 0.21, price 0.20, spread 0.22)');
    expect(out).toMatch(/excluded\s*│?\s*gpu: cordoned/);
    // A cluster left out by its state may fit later.
    expect(out).toContain('far: unhealthy: API server unreachable (for now)');
    expect(out).not.toContain('cordoned (for now)');
    // In order: reason, the best candidate, the next, the exclusions.
    const at = (s: string): number => out.indexOf(s);
    expect(at('chosen because')).toBeLessThan(at('b 0.72'));
    expect(at('b 0.72')).toBeLessThan(at('local 0.63'));
    expect(at('local 0.63')).toBeLessThan(at('gpu: cordoned'));
  });

  it('carries the placement in -o json, and shows nothing of it before a cluster is chosen or from older workflows', () => {
    expect(JSON.parse(render(status(placement), 'json'))).toMatchObject({ placement });
    expect(render(status(null))).not.toContain('chosen because');
    expect(render(status(undefined))).not.toContain('chosen because');
  });
});
