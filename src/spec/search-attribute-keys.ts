/**
 * Typed Temporal search attribute keys for the `Assay*` attributes. Derived from the table in
 * `search-attributes.ts`, which the local stack registers; workflows and clients use these keys.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const searchAttributeKeys = {
  team: defineSearchAttributeKey('AssayTeam', SearchAttributeType.KEYWORD),
  user: defineSearchAttributeKey('AssayUser', SearchAttributeType.KEYWORD),
  cluster: defineSearchAttributeKey('AssayCluster', SearchAttributeType.KEYWORD),
  phase: defineSearchAttributeKey('AssayPhase', SearchAttributeType.KEYWORD),
  outcome: defineSearchAttributeKey('AssayOutcome', SearchAttributeType.KEYWORD),
  image: defineSearchAttributeKey('AssayImage', SearchAttributeType.KEYWORD),
  priority: defineSearchAttributeKey('AssayPriority', SearchAttributeType.KEYWORD),
  exitCode: defineSearchAttributeKey('AssayExitCode', SearchAttributeType.INT),
  costUsd: defineSearchAttributeKey('AssayCostUsd', SearchAttributeType.DOUBLE),
} as const;
