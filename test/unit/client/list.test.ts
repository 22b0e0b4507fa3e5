import { describe, expect, it } from '@jest/globals';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { TypedSearchAttributes } from '@temporalio/common';
import { summaryOf } from '../../../src/client/assay-client.js';
import { listTable } from '../../../src/client/cli/list.js';
import { searchAttributeKeys } from '../../../src/spec/search-attribute-keys.js';

/** A visibility entry as `workflow.list` yields it, with the parts `summaryOf` reads. */
function info(memo: Record<string, unknown> | undefined): WorkflowExecutionInfo {
  return {
    workflowId: 'eval-abc',
    status: { name: 'COMPLETED' },
    typedSearchAttributes: new TypedSearchAttributes([
      { key: searchAttributeKeys.team, value: 'research' },
      { key: searchAttributeKeys.cluster, value: 'local-docker' },
      { key: searchAttributeKeys.exitCode, value: 0 },
    ]),
    memo,
    startTime: new Date('2026-12-01T04:00:00Z'),
    closeTime: new Date('2026-12-01T04:01:00Z'),
  } as unknown as WorkflowExecutionInfo;
}

describe('assay list: the executor', () => {
  it('comes from the memo the workflow sets at cluster choice; unknown without one', () => {
    expect(summaryOf(info({ executor: 'docker' }))).toMatchObject({
      evaluationId: 'abc',
      team: 'research',
      cluster: 'local-docker',
      executor: 'docker',
      exitCode: 0,
    });
    expect(summaryOf(info(undefined)).executor).toBeNull();
    expect(summaryOf(info({ executor: 7 })).executor).toBeNull();
  });

  it('is a column of the table', () => {
    const table = listTable([summaryOf(info({ executor: 'docker' })), summaryOf(info({}))]);
    const [head, first, second] = table.split('\n').filter((l) => /[a-z]/.test(l));
    const cells = (line: string | undefined): string[] =>
      (line ?? '')
        .split('│')
        .map((c) => c.trim())
        .filter((c) => c !== '');
    expect(cells(head)).toEqual([
      'evaluation',
      'team',
      'user',
      'cluster',
      'executor',
      'phase',
      'outcome',
      'exit',
      'started',
    ]);
    expect(cells(first).slice(0, 5)).toEqual(['abc', 'research', '-', 'local-docker', 'docker']);
    expect(cells(second)[4]).toBe('-');
  });
});
