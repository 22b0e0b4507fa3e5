/** How the CLI's exit code follows an evaluation's outcome. */
import type { Outcome } from './record.js';

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
