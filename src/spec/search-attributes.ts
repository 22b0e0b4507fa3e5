/**
 * The Temporal search attributes Assay upserts on every evaluation workflow.
 *
 * This table is the single source of truth: the local stack registers exactly these attributes on the dev server,
 * and workflows upsert them on each phase change, so the Web UI can filter evaluations by team, user, cluster,
 * phase and outcome.
 */

/** Value types Temporal accepts for a custom search attribute (names as the Temporal CLI spells them). */
export type SearchAttributeValueType = 'Keyword' | 'Int' | 'Double' | 'Text' | 'Datetime' | 'Bool';

/** One custom search attribute: its name and its Temporal value type. */
export interface SearchAttributeDefinition {
  readonly name: string;
  readonly type: SearchAttributeValueType;
}

/** Every `Assay*` search attribute of DESIGN.md, in a stable order. */
export const assaySearchAttributes = [
  { name: 'AssayTeam', type: 'Keyword' },
  { name: 'AssayUser', type: 'Keyword' },
  { name: 'AssayCluster', type: 'Keyword' },
  { name: 'AssayPhase', type: 'Keyword' },
  { name: 'AssayOutcome', type: 'Keyword' },
  { name: 'AssayImage', type: 'Keyword' },
  { name: 'AssayPriority', type: 'Keyword' },
  { name: 'AssayExitCode', type: 'Int' },
  { name: 'AssayCostUsd', type: 'Double' },
] as const satisfies readonly SearchAttributeDefinition[];

/** The name of one `Assay*` search attribute, e.g. `'AssayTeam'`. */
export type AssaySearchAttributeName = (typeof assaySearchAttributes)[number]['name'];
