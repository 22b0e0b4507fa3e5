import { describe, expect, it } from '@jest/globals';
import type { Context } from '@temporalio/activity';
import type { DestinationStream } from 'pino';
import {
  activityLogAttributes,
  createLogger,
  evaluationOf,
  temporalLogger,
} from '../../../src/workers/logger.js';

/** A logger writing into an array of parsed lines. */
function capture(level: 'debug' | 'info' = 'info'): {
  lines: Record<string, unknown>[];
  logger: ReturnType<typeof createLogger>;
} {
  const lines: Record<string, unknown>[] = [];
  const destination: DestinationStream = {
    write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>),
  };
  return { lines, logger: createLogger({ level, destination }) };
}

describe('createLogger', () => {
  it('writes one JSON object per line with a level name, a time and the worker name', () => {
    const { lines, logger } = capture();
    logger.info({ taskQueues: ['assay'] }, 'serving assay');
    logger.debug('not at info');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      level: 'info',
      name: 'assay-worker',
      msg: 'serving assay',
      taskQueues: ['assay'],
    });
    expect(typeof lines[0]?.time).toBe('string');
  });
});

describe('temporalLogger', () => {
  it("maps the SDK's levels and keeps its metadata as fields", () => {
    const { lines, logger } = capture('debug');
    const sdk = temporalLogger(logger);
    sdk.debug('Activity started', { activityType: 'createJob', evaluationId: 'e1' });
    sdk.log('WARN', 'Activity failed', { error: new Error('boom') });
    sdk.trace('below debug');
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['debug', 'Activity started'],
      ['warn', 'Activity failed'],
    ]);
    expect(lines[0]).toMatchObject({ activityType: 'createJob', evaluationId: 'e1' });
    expect(lines[1]?.error).toMatchObject({ type: 'Error', message: 'boom' });
  });
});

describe('evaluationOf', () => {
  it('reads the evaluation from the workflow id, the attempt from the input', () => {
    expect(evaluationOf('eval-abc', { evaluationId: 'other', attempt: 2 })).toEqual({
      evaluationId: 'abc',
      evaluationAttempt: 2,
    });
    expect(evaluationOf('assay-retention-sweep-run', { maxEvaluations: 5 })).toEqual({
      evaluationId: null,
      evaluationAttempt: null,
    });
    expect(evaluationOf(undefined, { evaluationId: 'xyz' })).toEqual({
      evaluationId: 'xyz',
      evaluationAttempt: null,
    });
  });
});

describe('activityLogAttributes', () => {
  it('adds the evaluation, its attempt and the cluster to every activity log line', async () => {
    const ctx = { info: { workflowExecution: { workflowId: 'eval-e42', runId: 'r' } } } as unknown as Context;
    const interceptors = activityLogAttributes('local')(ctx);
    const base = { activityType: 'createJob', attempt: 1 };
    const before = interceptors.outbound!.getLogAttributes!(base, (a) => a);
    expect(before).toEqual({ ...base, evaluationId: 'e42', evaluationAttempt: null, cluster: 'local' });
    await interceptors.inbound!.execute!({ args: [{ evaluationId: 'e42', attempt: 3 }], headers: {} }, () =>
      Promise.resolve(undefined),
    );
    const after = interceptors.outbound!.getLogAttributes!(base, (a) => a);
    expect(after).toEqual({ ...base, evaluationId: 'e42', evaluationAttempt: 3, cluster: 'local' });
  });
});
