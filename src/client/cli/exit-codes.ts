/** CLI exit codes (docs/architecture.md, "The record"): they follow the evaluation's outcome. */
export const exitCodes = {
  succeeded: 0,
  failed: 1,
  invalidInput: 2,
  infrastructure: 3,
  cancelled: 4,
} as const;
