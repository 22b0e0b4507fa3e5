/**
 * The cost ledger (docs/cost.md, "Ledger"): one small JSON object per finished evaluation under
 * `ledger/cost/<yyyy>/<mm>/<dd>/<id>.json`, the day it finished (UTC). Reports read only the ledger.
 */
import type { ObjectStore } from '../storage/object-store.js';
import { ledgerKey, type EvaluationCost, type LedgerEntry } from '../spec/cost.js';

/** What the entry is made of: the record (its spec for the labels) and its cost. */
export interface LedgerSource {
  evaluationId: string;
  team: string;
  user: string;
  cluster: string | null;
  outcome: string;
  timings: { finishedAt: string | null };
  spec: unknown;
}

function specLabels(spec: unknown): Record<string, string> {
  const labels = (spec as { metadata?: { labels?: unknown } } | null)?.metadata?.labels;
  if (labels === null || typeof labels !== 'object') return {};
  return Object.fromEntries(
    Object.entries(labels as Record<string, unknown>).filter(
      (e): e is [string, string] => typeof e[1] === 'string',
    ),
  );
}

/** The ledger entry of a finished evaluation; null when it has not finished. */
export function ledgerEntryOf(source: LedgerSource, cost: EvaluationCost): LedgerEntry | null {
  if (source.timings.finishedAt === null) return null;
  const sum = (f: (a: EvaluationCost['attempts'][number]) => number): number =>
    cost.attempts.reduce((s, a) => s + f(a), 0);
  return {
    evaluationId: source.evaluationId,
    team: source.team,
    user: source.user,
    cluster: source.cluster,
    labels: specLabels(source.spec),
    outcome: source.outcome,
    finishedAt: source.timings.finishedAt,
    currency: cost.currency,
    total: cost.total,
    byResource: cost.byResource,
    usage: {
      cpuCoreHours: sum((a) => a.quantities.cpu.unitHours),
      memoryGiBHours: sum((a) => a.quantities.memory.unitHours),
      gpuHours: sum((a) => a.quantities.gpu.unitHours),
      seconds: sum((a) => a.seconds),
    },
    attempts: cost.attempts.length,
    retried: cost.retried,
    spot: cost.attempts.some((a) => a.spot),
    priceVersion: cost.prices.version,
    partial: cost.partial,
  };
}

/**
 * Writes the entry once: an existing entry is left as it is (the content derives from history only, so a retried
 * write would store the same bytes). Returns whether this call wrote it.
 */
export async function writeLedgerEntry(store: ObjectStore, entry: LedgerEntry): Promise<boolean> {
  const key = ledgerKey(entry.finishedAt, entry.evaluationId);
  if (await store.exists(key)) return false;
  await store.put(key, `${JSON.stringify(entry)}\n`, { contentType: 'application/json' });
  return true;
}
