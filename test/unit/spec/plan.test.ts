/** The workflow's side of the plan: it maps a normalised spec without zod and refuses one it cannot use. */
import { describe, expect, it } from '@jest/globals';
import { parseEvaluationJob } from '../../../src/spec/evaluation-job.js';
import { planFromJob, planFromSpec } from '../../../src/spec/plan.js';

const raw = {
  apiVersion: 'assay.dev/v1',
  kind: 'EvaluationJob',
  metadata: { name: 'p' },
  spec: { team: 'ml', user: 'ada', image: 'localhost/assay/busybox:1', command: ['true'] },
};

function normalised(): unknown {
  const parsed = parseEvaluationJob(raw);
  if (!parsed.ok) throw new Error('fixture invalid');
  return JSON.parse(JSON.stringify(parsed.value));
}

describe('planFromSpec', () => {
  it('plans a normalised spec exactly as the client would', () => {
    const parsed = parseEvaluationJob(raw);
    if (!parsed.ok) throw new Error('fixture invalid');
    expect(planFromSpec(normalised())).toEqual({ ok: true, plan: planFromJob(parsed.value) });
  });

  it('refuses a spec that was not normalised, naming every field it cannot do without', () => {
    const result = planFromSpec(raw);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['spec.priority', 'spec.env', 'spec.resources', 'spec.timeoutSeconds']),
    );
  });

  it('refuses what is not an EvaluationJob at all', () => {
    const result = planFromSpec({ kind: 'Pod' });
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.issues[0]).toEqual({ path: 'kind', message: 'must be EvaluationJob' });
    expect(planFromSpec(null).ok).toBe(false);
  });

  it('refuses a timeout or attempt count it cannot use', () => {
    const spec = normalised() as { spec: { timeoutSeconds: unknown; retries: { maxAttempts: unknown } } };
    spec.spec.timeoutSeconds = 0;
    spec.spec.retries.maxAttempts = 1.5;
    const result = planFromSpec(spec);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.issues.map((i) => i.path)).toEqual(['spec.timeoutSeconds', 'spec.retries.maxAttempts']);
    }
  });
});
