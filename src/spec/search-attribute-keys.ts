/**
 * Typed Temporal search attribute keys for the `Assay*` attributes, derived from the table in `./search-attributes.ts`
 * (which the local stack registers); workflows and clients use these keys. Kept apart from that table because it
 * needs `@temporalio/common`, which the rest of the spec does not.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { assaySearchAttributeTable, type SearchAttributeValueType } from './search-attributes.js';

/** The SDK's spelling of each value type. */
const sdkTypes = {
  Keyword: SearchAttributeType.KEYWORD,
  Int: SearchAttributeType.INT,
  Double: SearchAttributeType.DOUBLE,
  Text: SearchAttributeType.TEXT,
  Datetime: SearchAttributeType.DATETIME,
  Bool: SearchAttributeType.BOOL,
} as const satisfies Record<SearchAttributeValueType, SearchAttributeType>;

type Table = typeof assaySearchAttributeTable;
/** The typed key of a search attribute of SDK type `T` (the SDK does not export the interface by name). */
type KeyOf<T extends SearchAttributeType> = ReturnType<typeof defineSearchAttributeKey<T>>;

/** One typed key per row of the table, under the row's key. */
export type AssaySearchAttributeKeys = {
  readonly [K in keyof Table]: KeyOf<(typeof sdkTypes)[Table[K]['type']]>;
};

export const searchAttributeKeys = Object.fromEntries(
  Object.entries(assaySearchAttributeTable).map(([key, { name, type }]) => [
    key,
    defineSearchAttributeKey(name, sdkTypes[type]),
  ]),
) as AssaySearchAttributeKeys;

/** The search attributes an evaluation workflow starts with: who runs what, at what priority, phase `Validating`. */
export function evaluationStartAttributes(spec: {
  readonly team: string;
  readonly user: string;
  readonly image: string;
  readonly priority: string;
}) {
  return [
    { key: searchAttributeKeys.team, value: spec.team },
    { key: searchAttributeKeys.user, value: spec.user },
    { key: searchAttributeKeys.image, value: spec.image },
    { key: searchAttributeKeys.priority, value: spec.priority },
    { key: searchAttributeKeys.phase, value: 'Validating' },
  ];
}
