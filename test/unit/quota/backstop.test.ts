import { describe, expect, it } from '@jest/globals';
import {
  buildLimitRange,
  buildPriorityClass,
  buildResourceQuota,
} from '../../../src/activities/quota-backstop.js';
import { renderQuota } from '../../../src/client/cli/quota.js';
import { teamQuotaSchema } from '../../../src/spec/quota-config.js';

const team = teamQuotaSchema.parse({ maxRunning: 5, cpu: '8', memory: '32Gi', gpu: { a100: 2, h100: 1 } });

describe('the Kubernetes backstop', () => {
  it('derives the ResourceQuota and LimitRange from the policy', () => {
    expect(buildResourceQuota('assay-ml', 'ml', team)?.spec?.hard).toEqual({
      pods: '5',
      'requests.cpu': '8',
      'requests.memory': '32Gi',
      'requests.nvidia.com/gpu': '3',
    });
    expect(buildLimitRange('assay-ml', 'ml', team)?.spec?.limits).toEqual([
      { type: 'Container', max: { cpu: '8', memory: '32Gi' } },
    ]);
    expect(buildResourceQuota('assay-ml', 'ml', teamQuotaSchema.parse({}))).toBeNull();
  });

  it('never lets an evaluation preempt pods without a class, and low ones preempt nothing', () => {
    const classes = (['low', 'normal', 'high'] as const).map(buildPriorityClass);
    expect(classes.map((c) => [c.metadata?.name, c.value, c.preemptionPolicy])).toEqual([
      ['assay-low', -1000, 'Never'],
      ['assay-normal', -500, 'PreemptLowerPriority'],
      ['assay-high', 0, 'PreemptLowerPriority'],
    ]);
  });
});

describe('assay quota (table)', () => {
  it('shows limits, use and each queued evaluation with its position and reason', () => {
    const text = renderQuota(
      [
        {
          team: 'ml',
          policy: { maxRunning: 5, cpu: 8000, users: {} },
          fairness: { agingSeconds: 600, starvationSeconds: 300 },
          inUse: { running: 5, cpu: 7500, memory: 2 ** 30, gpu: {} },
          admissions: 12,
          generation: 0,
          holders: [],
          queue: [
            {
              evaluationId: 'big',
              workflowId: 'eval-big',
              user: 'ada',
              priority: 'normal',
              demand: { cpu: 2000, memory: 0, gpu: {} },
              queuedAt: 0,
              seq: 1,
              position: 1,
              waitingFor: 'waiting for cpu: needs 2, free 500m of 8',
            },
          ],
        },
      ],
      30_000,
    );
    expect(text).toContain('limits:  maxRunning 5 · cpu 8');
    expect(text).toContain('in use:  5 running · cpu 7500m · memory 1Gi');
    expect(text).toMatch(/1 +│ big +│ ada +│ normal +│ 30s +│ waiting for cpu: needs 2, free 500m of 8/);
  });
});
