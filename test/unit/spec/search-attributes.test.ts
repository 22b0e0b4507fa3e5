import { describe, expect, it } from '@jest/globals';
import { SearchAttributeType } from '@temporalio/common';
import { assaySearchAttributes, assaySearchAttributeTable } from '../../../src/spec/search-attributes.js';
import { searchAttributeKeys } from '../../../src/spec/search-attribute-keys.js';

describe('search attributes', () => {
  it('registers every row of the table once, in the table order', () => {
    expect(assaySearchAttributes.map((a) => a.name)).toEqual([
      'AssayTeam',
      'AssayUser',
      'AssayCluster',
      'AssayPhase',
      'AssayOutcome',
      'AssayImage',
      'AssayPriority',
      'AssayExitCode',
      'AssayCostUsd',
      'AssayBatch',
      'AssaySchedule',
      'AssayTraceId',
    ]);
    expect(new Set(assaySearchAttributes.map((a) => a.name)).size).toBe(assaySearchAttributes.length);
  });

  it('derives one typed key per row, with the row name and the SDK spelling of its type', () => {
    expect(Object.keys(searchAttributeKeys)).toEqual(Object.keys(assaySearchAttributeTable));
    expect(searchAttributeKeys.team).toEqual({ name: 'AssayTeam', type: SearchAttributeType.KEYWORD });
    expect(searchAttributeKeys.exitCode).toEqual({ name: 'AssayExitCode', type: SearchAttributeType.INT });
    expect(searchAttributeKeys.costUsd).toEqual({ name: 'AssayCostUsd', type: SearchAttributeType.DOUBLE });
    for (const [key, row] of Object.entries(assaySearchAttributeTable)) {
      const typed = searchAttributeKeys[key as keyof typeof searchAttributeKeys];
      expect(typed.name).toBe(row.name);
      expect(typed.type).toBe(row.type.toUpperCase());
    }
  });
});
