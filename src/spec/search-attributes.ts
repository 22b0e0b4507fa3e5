/**
 * The Temporal search attributes Assay upserts on every evaluation workflow.
 *
 * {@link assaySearchAttributeTable} is the single source of truth: the local stack registers exactly these attributes
 * on the dev server ({@link assaySearchAttributes}), and workflows and clients use the typed keys derived from it
 * (`searchAttributeKeys` in `./search-attribute-keys.ts`), so the Web UI can filter evaluations by team, user,
 * cluster, phase and outcome.
 */

/** Value types Temporal accepts for a custom search attribute (names as the Temporal CLI spells them). */
export type SearchAttributeValueType = 'Keyword' | 'Int' | 'Double' | 'Text' | 'Datetime' | 'Bool';

/** One custom search attribute: its name and its Temporal value type. */
export interface SearchAttributeDefinition {
  readonly name: string;
  readonly type: SearchAttributeValueType;
}

/** Every `Assay*` search attribute, under the key workflows and clients use for it, in a stable order. */
export const assaySearchAttributeTable = {
  team: { name: 'AssayTeam', type: 'Keyword' },
  user: { name: 'AssayUser', type: 'Keyword' },
  cluster: { name: 'AssayCluster', type: 'Keyword' },
  phase: { name: 'AssayPhase', type: 'Keyword' },
  outcome: { name: 'AssayOutcome', type: 'Keyword' },
  image: { name: 'AssayImage', type: 'Keyword' },
  priority: { name: 'AssayPriority', type: 'Keyword' },
  exitCode: { name: 'AssayExitCode', type: 'Int' },
  costUsd: { name: 'AssayCostUsd', type: 'Double' },
  batch: { name: 'AssayBatch', type: 'Keyword' },
  schedule: { name: 'AssaySchedule', type: 'Keyword' },
  /** The evaluation's trace id (docs/observability.md), set by a client that traces. */
  traceId: { name: 'AssayTraceId', type: 'Keyword' },
} as const satisfies Readonly<Record<string, SearchAttributeDefinition>>;

type Table = typeof assaySearchAttributeTable;

/** One `Assay*` search attribute definition, e.g. `{ name: 'AssayTeam', type: 'Keyword' }`. */
export type AssaySearchAttribute = Table[keyof Table];

/** The attributes to register, in the table's order. */
export const assaySearchAttributes: readonly AssaySearchAttribute[] =
  Object.values(assaySearchAttributeTable);

/** The name of one `Assay*` search attribute, e.g. `'AssayTeam'`. */
export type AssaySearchAttributeName = AssaySearchAttribute['name'];
