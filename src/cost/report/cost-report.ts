/**
 * `costReport`: the ledger of a range streamed through the aggregator (docs/cost.md, "Reports").
 */
import type { ObjectStore } from '../../storage/object-store.js';
import type { Budget } from '../../spec/pricing-config.js';
import { createAggregator, type CostReport, type GroupBy } from './aggregate.js';
import { readLedger } from './read-ledger.js';

export interface CostReportOptions {
  from: Date;
  to: Date;
  by: GroupBy;
  budgets?: Readonly<Record<string, Budget>>;
  /** Ledger reads in flight (32). */
  concurrency?: number;
  /** Another ledger root than `ledger/cost/` (tests, separate ledgers). */
  prefix?: string;
  topN?: number;
}

export async function costReport(store: ObjectStore, options: CostReportOptions): Promise<CostReport> {
  const aggregator = createAggregator(options);
  for await (const item of readLedger(store, options, {
    ...(options.concurrency !== undefined ? { concurrency: options.concurrency } : {}),
    ...(options.prefix !== undefined ? { prefix: options.prefix } : {}),
  })) {
    if (item.kind === 'entry') aggregator.add(item.entry);
    else aggregator.malformed(item.key, item.reason);
  }
  return aggregator.report();
}
