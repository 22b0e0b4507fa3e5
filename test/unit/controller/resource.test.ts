import { describe, expect, it } from '@jest/globals';
import {
  backoffMs,
  evaluationIdForResource,
  isStarted,
  manifestOf,
  sameStatus,
  setCondition,
  statusFromProgress,
  statusOfStartFailure,
} from '../../../src/controller/resource.js';
import { evaluationIdSchema } from '../../../src/spec/names.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const t1 = new Date('2026-01-01T00:01:00Z');

describe('evaluationIdForResource', () => {
  it('is deterministic, a valid evaluation id, and new for a re-created resource', () => {
    const a = evaluationIdForResource('ml', 'hello', 'uid-1');
    expect(a).toBe(evaluationIdForResource('ml', 'hello', 'uid-1'));
    expect(a).toMatch(/^hello-[0-9a-f]{10}$/);
    expect(evaluationIdForResource('ml', 'hello', 'uid-2')).not.toBe(a);
    expect(evaluationIdForResource('other', 'hello', 'uid-1')).not.toBe(a);
    for (const name of ['x'.repeat(253), 'a.b.c', 'trailing-', '...'])
      expect(evaluationIdSchema.safeParse(evaluationIdForResource('ns', name, 'u')).success).toBe(true);
  });

  it('builds the manifest from the spec and labels, named by the evaluation id', () => {
    expect(manifestOf({ metadata: { name: 'x', labels: { a: 'b' } }, spec: { image: 'i' } }, 'x-1')).toEqual({
      apiVersion: 'assay.dev/v1',
      kind: 'EvaluationJob',
      metadata: { name: 'x-1', labels: { a: 'b' } },
      spec: { image: 'i' },
    });
  });
});

describe('status', () => {
  const progress = {
    phase: 'Running' as const,
    outcome: null,
    reason: null,
    exitCode: null,
    attempt: 1,
    queuePosition: null,
    recordKey: 'evaluations/e/record.json',
    startedAt: '2026-01-01T00:00:05Z',
    finishedAt: null,
  };

  it('keeps lastTransitionTime while a condition keeps its status', () => {
    const first = setCondition(
      undefined,
      { type: 'Started', status: 'True', reason: 'R', message: 'm' },
      1,
      t0,
    );
    const again = setCondition(
      first,
      { type: 'Started', status: 'True', reason: 'R2', message: 'm2' },
      1,
      t1,
    );
    expect(again[0]?.lastTransitionTime).toBe(t0.toISOString());
    const flipped = setCondition(
      again,
      { type: 'Started', status: 'False', reason: 'R', message: 'm' },
      1,
      t1,
    );
    expect(flipped[0]?.lastTransitionTime).toBe(t1.toISOString());
  });

  it('from a running evaluation: phase, attempt, record key, Started, no outcome conditions', () => {
    const status = statusFromProgress({ metadata: { generation: 1 } }, 'e', progress, t0);
    expect(status).toMatchObject({ phase: 'Running', attempt: 1, evaluationId: 'e', observedGeneration: 1 });
    expect(status.conditions?.map((c) => `${c.type}=${c.status}`)).toEqual(['Started=True']);
    expect(isStarted(status)).toBe(true);
    // The same status again, later, is no change: no write.
    expect(
      sameStatus(status, statusFromProgress({ metadata: { generation: 1 }, status }, 'e', progress, t1)),
    ).toBe(true);
  });

  it('from an ended one: outcome, exit code and Completed/Succeeded conditions; a stale queuePosition goes', () => {
    const queued = statusFromProgress({}, 'e', { ...progress, phase: 'Queued', queuePosition: 2 }, t0);
    expect(queued.queuePosition).toBe(2);
    const ended = statusFromProgress(
      { status: queued },
      'e',
      {
        ...progress,
        phase: 'Completed',
        outcome: 'Failed',
        reason: 'NonZeroExit',
        exitCode: 3,
        finishedAt: '2026-01-01T00:00:09Z',
      },
      t1,
    );
    expect(ended).not.toHaveProperty('queuePosition');
    expect(ended).toMatchObject({ outcome: 'Failed', exitCode: 3, reason: 'NonZeroExit' });
    expect(ended.conditions?.map((c) => `${c.type}=${c.status}:${c.reason}`)).toEqual([
      'Started=True:EvaluationStarted',
      'Completed=True:Failed',
      'Succeeded=False:Failed',
    ]);
  });

  it('a start failure is a Started=False condition, not started', () => {
    const status = statusOfStartFailure({}, 'e', { reason: 'StartFailed', message: 'Temporal down' }, t0);
    expect(status.conditions).toEqual([
      expect.objectContaining({
        type: 'Started',
        status: 'False',
        reason: 'StartFailed',
        message: 'Temporal down',
      }),
    ]);
    expect(isStarted(status)).toBe(false);
  });

  it('backs off exponentially to five minutes, with jitter', () => {
    expect(backoffMs(1, () => 0.5)).toBe(1000);
    expect(backoffMs(4, () => 0.5)).toBe(8000);
    expect(backoffMs(30, () => 0.5)).toBe(300_000);
    expect(backoffMs(1, () => 0)).toBe(800);
  });
});
