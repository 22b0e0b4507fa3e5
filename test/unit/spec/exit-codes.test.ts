import { describe, expect, it } from '@jest/globals';
import { exitCodeForRecord } from '../../../src/spec/exit-codes.js';

describe('exit codes', () => {
  it('follow the outcome', () => {
    expect(exitCodeForRecord({ outcome: 'Succeeded', reason: null })).toBe(0);
    expect(exitCodeForRecord({ outcome: 'Failed', reason: 'Error' })).toBe(1);
    expect(exitCodeForRecord({ outcome: 'TimedOut', reason: 'DeadlineExceeded' })).toBe(1);
    expect(exitCodeForRecord({ outcome: 'ConfigurationError', reason: 'ErrImageNeverPull' })).toBe(3);
    expect(exitCodeForRecord({ outcome: 'InfrastructureError', reason: 'Evicted' })).toBe(3);
    expect(exitCodeForRecord({ outcome: 'Cancelled', reason: 'Cancelled' })).toBe(4);
  });

  it('call an evaluation larger than its team quota invalid input (2), as a spec that fails validation', () => {
    expect(exitCodeForRecord({ outcome: 'ConfigurationError', reason: 'QuotaExceeded' })).toBe(2);
  });
});
