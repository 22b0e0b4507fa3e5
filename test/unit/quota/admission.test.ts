import { describe, expect, it } from '@jest/globals';
import {
  admissionOrder,
  demandOf,
  neverFits,
  planAdmissions,
  type Demand,
  type Holder,
  type QueueEntry,
} from '../../../src/quota/admission.js';
import type { Priority } from '../../../src/spec/spec-constants.js';
import { teamQuotaSchema, type TeamQuota } from '../../../src/spec/quota-config.js';

const fairness = { agingSeconds: 600, starvationSeconds: 300 };
const small: Demand = { cpu: 500, memory: 256 * 2 ** 20, gpu: {} };
const large: Demand = { cpu: 4000, memory: 2 ** 30, gpu: {} };

let seq = 0;
function entry(
  id: string,
  options: { priority?: Priority; user?: string; demand?: Demand; queuedAt?: number } = {},
): QueueEntry {
  return {
    evaluationId: id,
    workflowId: `eval-${id}`,
    user: options.user ?? 'ada',
    priority: options.priority ?? 'normal',
    demand: options.demand ?? small,
    queuedAt: options.queuedAt ?? 0,
    seq: seq++,
  };
}
function holder(id: string, options: Parameters<typeof entry>[1] = {}): Holder {
  return { ...entry(id, options), admittedAt: 0 };
}
const team = (q: unknown): TeamQuota => teamQuotaSchema.parse(q);

describe('planAdmissions', () => {
  it('admits by priority, then first come first served, up to maxRunning', () => {
    const queue = [entry('a'), entry('b', { priority: 'low' }), entry('c', { priority: 'high' }), entry('d')];
    const plan = planAdmissions(team({ maxRunning: 2 }), [], queue, 1000, fairness);
    expect(plan.admit.map((e) => e.evaluationId)).toEqual(['c', 'a']);
    expect(plan.waiting.get('d')).toEqual({
      position: 1,
      waitingFor: 'waiting for a running slot: 2 of 2 in use',
    });
    expect(plan.waiting.get('b')?.position).toBe(2);
  });

  it('says what a waiting evaluation needs and what is free', () => {
    const plan = planAdmissions(
      team({ cpu: '8' }),
      [holder('h', { demand: { ...large, cpu: 7500 } })],
      [entry('x', { demand: { ...large, cpu: 2000 } })],
      0,
      fairness,
    );
    expect(plan.waiting.get('x')?.waitingFor).toBe('waiting for cpu: needs 2, free 500m of 8');
  });

  it('lets smaller evaluations pass one that does not fit (BestEffortFIFO)', () => {
    const plan = planAdmissions(
      team({ cpu: '4' }),
      [holder('h', { demand: { ...small, cpu: 1000 } })],
      [entry('big', { demand: large }), entry('s1'), entry('s2')],
      10,
      fairness,
    );
    expect(plan.admit.map((e) => e.evaluationId)).toEqual(['s1', 's2']);
    expect(plan.waiting.get('big')?.waitingFor).toMatch(/^waiting for cpu: needs 4, free 3 of 4/);
  });

  it('keeps freed capacity for an evaluation that waited past starvationSeconds', () => {
    const big = entry('big', { demand: large, queuedAt: 0 });
    const queue = [big, entry('s1', { queuedAt: 299_000 }), entry('s2', { queuedAt: 299_000 })];
    const holders = [holder('h', { demand: { ...small, cpu: 1000 } })];
    const before = planAdmissions(team({ cpu: '4' }), holders, queue, 299_000, fairness);
    expect(before.admit.map((e) => e.evaluationId)).toEqual(['s1', 's2']);
    const after = planAdmissions(team({ cpu: '4' }), holders, queue, 300_000, fairness);
    expect(after.admit).toEqual([]);
    expect(after.waiting.get('s1')?.waitingFor).toBe(
      'waiting behind big (starvation guard: freed capacity is kept for it)',
    );
    // Once the holder leaves, the large one is admitted first.
    expect(
      planAdmissions(team({ cpu: '4' }), [], queue, 300_000, fairness).admit.map((e) => e.evaluationId),
    ).toEqual(['big']);
  });

  it('never lets a stream of small evaluations starve a large one', () => {
    const quota = team({ cpu: '4' });
    let holders: Holder[] = [];
    const queue: QueueEntry[] = [entry('big', { demand: large, queuedAt: 0 })];
    let admittedBig: number | null = null;
    // Every second a small one arrives and every small one runs 3 s: without the guard the cpu is never all free.
    for (let t = 0; t < 1000 && admittedBig === null; t++) {
      const now = t * 1000;
      holders = holders.filter((h) => now - h.admittedAt < 3000);
      queue.push(entry(`s${t}`, { queuedAt: now, demand: { ...small, cpu: 1000 } }));
      const plan = planAdmissions(quota, holders, queue, now, fairness);
      for (const e of plan.admit) {
        queue.splice(queue.indexOf(e), 1);
        holders.push({ ...e, admittedAt: now });
        if (e.evaluationId === 'big') admittedBig = now;
      }
    }
    expect(admittedBig).not.toBeNull();
    expect(admittedBig!).toBeLessThanOrEqual(fairness.starvationSeconds * 1000 + 3000);
  });

  it('ages a waiting evaluation one class per agingSeconds', () => {
    const old = entry('old', { priority: 'low', queuedAt: 0 });
    const fresh = entry('fresh', { priority: 'high', queuedAt: 1_199_000 });
    expect(admissionOrder([old, fresh], 1_199_000, fairness).map((e) => e.evaluationId)).toEqual([
      'fresh',
      'old',
    ]);
    expect(admissionOrder([old, fresh], 1_200_000, fairness).map((e) => e.evaluationId)).toEqual([
      'old',
      'fresh',
    ]);
  });

  it("holds each user to their cap while others' work passes", () => {
    const quota = team({ maxRunning: 10, users: { default: { maxRunning: 2 }, grace: { maxRunning: 3 } } });
    const queue = ['1', '2', '3', '4'].map((n) => entry(`ada${n}`, { user: 'ada' }));
    queue.push(entry('bob1', { user: 'bob' }));
    const plan = planAdmissions(quota, [], queue, 0, fairness);
    expect(plan.admit.map((e) => e.evaluationId)).toEqual(['ada1', 'ada2', 'bob1']);
    expect(plan.waiting.get('ada3')?.waitingFor).toBe(
      "waiting for user ada's cap on a running slot: 2 of 2 in use",
    );
  });

  it('counts GPUs per type and refuses a type the team does not have', () => {
    const quota = team({ gpu: { a100: 2 } });
    expect(neverFits(quota, 'ada', { ...small, gpu: { a100: 3 } })).toBe(
      'larger than team quota: gpu a100: needs 3, free 2 of 2',
    );
    expect(neverFits(quota, 'ada', { ...small, gpu: { h100: 1 } })).toMatch(/gpu h100: needs 1, free 0 of 0/);
    expect(neverFits(quota, 'ada', { ...small, gpu: { a100: 2 } })).toBeNull();
  });

  it('refuses an evaluation larger than the whole team quota or its user cap, with the numbers', () => {
    const quota = team({ cpu: '8', memory: '16Gi', users: { default: { cpu: '2' } } });
    expect(neverFits(quota, 'ada', { ...small, cpu: 9000 })).toBe(
      'larger than team quota: cpu: needs 9, free 8 of 8',
    );
    expect(neverFits(quota, 'ada', { ...small, memory: 32 * 2 ** 30 })).toBe(
      'larger than team quota: memory: needs 32Gi, free 16Gi of 16Gi',
    );
    expect(neverFits(quota, 'ada', { ...small, cpu: 3000 })).toBe(
      "larger than user ada's cap: cpu: needs 3, free 2 of 2",
    );
  });
});

describe('demandOf', () => {
  it('reads the requests in millicores and bytes, GPUs by type', () => {
    expect(demandOf({ requests: { cpu: '1500m', memory: '1Gi' }, gpu: { count: 2, type: null } })).toEqual({
      cpu: 1500,
      memory: 2 ** 30,
      gpu: { any: 2 },
    });
    expect(demandOf({ requests: { cpu: '2', memory: '512Mi' }, gpu: null })).toEqual({
      cpu: 2000,
      memory: 2 ** 29,
      gpu: {},
    });
  });
});
