/** How the CLI's exit code follows an evaluation's outcome. */
import type { EvaluationRecord, Outcome } from './record.js';
import { errorTypes } from './error-types.js';

/**
 * The CLI exit code that follows an outcome: 0 succeeded, 1 the evaluation failed or timed out, 3 a configuration or
 * infrastructure error, 4 cancelled.
 */
export function exitCodeForOutcome(outcome: Outcome): 0 | 1 | 3 | 4 {
  switch (outcome) {
    case 'Succeeded':
      return 0;
    case 'Failed':
    case 'TimedOut':
      return 1;
    case 'ConfigurationError':
    case 'InfrastructureError':
      return 3;
    case 'Cancelled':
      return 4;
  }
}

/**
 * The CLI exit code of a finished evaluation: as its outcome says, except that an evaluation refused because it is
 * larger than its team's whole quota (reason `QuotaExceeded`) is invalid input, exit 2, like a spec that fails
 * validation: running it again unchanged can never succeed.
 */
export function exitCodeForRecord(record: Pick<EvaluationRecord, 'outcome' | 'reason'>): 0 | 1 | 2 | 3 | 4 {
  if (record.outcome === 'ConfigurationError' && record.reason === errorTypes.quotaExceeded) return 2;
  return exitCodeForOutcome(record.outcome);
}
