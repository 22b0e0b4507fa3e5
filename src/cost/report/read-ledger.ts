/**
 * Streams the cost ledger of a date range (docs/cost.md, "Reports"): one S3 listing per day of the range, pages read
 * lazily, entries fetched with bounded concurrency and handed on one by one, so memory stays bounded whatever the
 * number of entries. A malformed entry is reported (key and reason) and skipped.
 */
import { ledgerEntrySchema, ledgerPrefix, type LedgerEntry } from '../../spec/cost.js';
import type { ObjectStore } from '../../storage/object-store.js';
import { ObjectNotFoundError } from '../../storage/errors.js';

export type LedgerItem =
  { kind: 'entry'; key: string; entry: LedgerEntry } | { kind: 'malformed'; key: string; reason: string };

/** The UTC days from `from` (inclusive) to `to` (exclusive), as `yyyy/mm/dd`. */
export function ledgerDays(from: Date, to: Date): string[] {
  const days: string[] = [];
  const day = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()));
  while (day < to) {
    days.push(day.toISOString().slice(0, 10).replaceAll('-', '/'));
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return days;
}

/** Reads and validates one entry; never throws for bad content. */
async function readItem(store: ObjectStore, key: string, signal?: AbortSignal): Promise<LedgerItem> {
  let text: string;
  try {
    text = (await store.getBytes(key, signal === undefined ? {} : { signal })).toString('utf8');
  } catch (err) {
    if (err instanceof ObjectNotFoundError) {
      return { kind: 'malformed', key, reason: 'deleted while the report ran' };
    }
    throw err;
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return { kind: 'malformed', key, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = ledgerEntrySchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { kind: 'malformed', key, reason: `${issue.path.join('.') || '(entry)'}: ${issue.message}` };
  }
  return { kind: 'entry', key, entry: parsed.data };
}

/**
 * The entries whose key day lies in [from, to), in key order per day, `concurrency` reads in flight (default 32).
 * Entries finished outside [from, to) on a boundary day are left out.
 */
export async function* readLedger(
  store: ObjectStore,
  range: { from: Date; to: Date },
  options: { concurrency?: number; signal?: AbortSignal; prefix?: string } = {},
): AsyncGenerator<LedgerItem> {
  const concurrency = options.concurrency ?? 32;
  const prefix = options.prefix ?? ledgerPrefix;
  // Settled results, so a read that fails while earlier ones are awaited is not an unhandled rejection.
  type Settled = { ok: true; item: LedgerItem } | { ok: false; err: unknown };
  const pending: Promise<Settled>[] = [];
  const next = async (): Promise<LedgerItem> => {
    const settled = await pending.shift()!;
    if (!settled.ok) throw settled.err;
    return settled.item;
  };
  const inRange = (item: LedgerItem): boolean => {
    if (item.kind !== 'entry') return true;
    const at = Date.parse(item.entry.finishedAt);
    return at >= range.from.getTime() && at < range.to.getTime();
  };
  for (const day of ledgerDays(range.from, range.to)) {
    for await (const object of store.list(
      `${prefix}${day}/`,
      options.signal === undefined ? {} : { signal: options.signal },
    )) {
      if (!object.key.endsWith('.json')) continue;
      pending.push(
        readItem(store, object.key, options.signal).then(
          (item) => ({ ok: true, item }),
          (err: unknown) => ({ ok: false, err }),
        ),
      );
      if (pending.length >= concurrency) {
        const item = await next();
        if (inRange(item)) yield item;
      }
    }
  }
  while (pending.length > 0) {
    const item = await next();
    if (inRange(item)) yield item;
  }
}
