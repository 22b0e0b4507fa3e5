/**
 * Benchmark of `assay report cost` (prints figures; asserts nothing):
 *   eval "$(npm run --silent stack -- env)"; npx tsx bench/cost-report.ts [--entries 100000] [--s3-entries 2000]
 *
 * 1. In memory: `--entries` synthetic ledger entries over 30 days in an in-process object store; the report (list,
 *    read, validate, aggregate by team) against a baseline in the same run that lists and reads the same objects and
 *    discards them. Time, entries/s and the heap's growth while the report runs (it must not grow with the entries).
 * 2. On the stack's S3: `--s3-entries` entries written under a throw-away prefix, then the report and the same bare
 *    list + read baseline; deleted afterwards. The figure per 1,000 entries extrapolates the S3 time of 100,000.
 */
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { ulid } from 'ulid';
import { costReport } from '../src/cost/report/cost-report.js';
import { ledgerDays } from '../src/cost/report/read-ledger.js';
import { ledgerKey, type LedgerEntry } from '../src/spec/cost.js';
import {
  ObjectNotFoundError,
  createS3ObjectStore,
  loadS3Config,
  type ObjectStore,
  type ObjectSummary,
} from '../src/storage/index.js';

const from = new Date('2031-01-01T00:00:00Z');
const to = new Date('2031-01-31T00:00:00Z');

function entry(i: number, tag: string): LedgerEntry {
  const total = ((i * 7919) % 1000) / 97;
  const day = (i % 30) + 1;
  return {
    evaluationId: `bench-${tag}-${i}`,
    team: `team-${i % 20}`,
    user: `user-${i % 500}`,
    cluster: `c${i % 3}`,
    labels: { 'cost-center': `cc-${i % 7}` },
    outcome: 'Succeeded',
    finishedAt: `2031-01-${String(day).padStart(2, '0')}T${String(i % 24).padStart(2, '0')}:00:00.000Z`,
    currency: 'USD',
    total,
    byResource: { cpu: total * 0.7, memory: total * 0.3, gpu: 0, ephemeralStorage: 0 },
    usage: { cpuCoreHours: 1, memoryGiBHours: 2, gpuHours: 0, seconds: 3600 },
    attempts: 1,
    retried: 0,
    spot: false,
    priceVersion: 'bench',
    partial: null,
  };
}

/** Only what the report uses: list, getBytes. */
function memoryStore(objects: Map<string, Buffer>): ObjectStore {
  const keys = [...objects.keys()].sort();
  const store = {
    bucket: 'memory',
    async *list(prefix: string): AsyncIterable<ObjectSummary> {
      for (const key of keys) {
        if (key.startsWith(prefix)) {
          await Promise.resolve();
          yield { key, size: objects.get(key)!.length, etag: undefined, lastModified: undefined };
        }
      }
    },
    getBytes(key: string) {
      const body = objects.get(key);
      return body === undefined
        ? Promise.reject(new ObjectNotFoundError('memory', key))
        : Promise.resolve(body);
    },
    get(key: string) {
      return Promise.resolve(Readable.from(objects.get(key)!));
    },
  };
  return store as unknown as ObjectStore;
}

async function bare(store: ObjectStore, prefix: string): Promise<number> {
  let n = 0;
  const pending: Promise<unknown>[] = [];
  for (const day of ledgerDays(from, to)) {
    for await (const o of store.list(`${prefix}${day}/`)) {
      pending.push(store.getBytes(o.key));
      if (pending.length >= 32) await pending.shift();
      n++;
    }
  }
  await Promise.all(pending);
  return n;
}

async function measure<T>(run: () => Promise<T>): Promise<{ ms: number; heapGrowthMiB: number; value: T }> {
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  let peak = before;
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().heapUsed)), 20);
  const start = performance.now();
  const value = await run();
  const ms = performance.now() - start;
  clearInterval(timer);
  peak = Math.max(peak, process.memoryUsage().heapUsed);
  return { ms, heapGrowthMiB: (peak - before) / 2 ** 20, value };
}

async function main(): Promise<void> {
  const options = new Command()
    .option('--entries <n>', 'entries in memory', '100000')
    .option('--s3-entries <n>', 'entries on the stack S3 (0: skip)', '2000')
    .parse()
    .opts<{ entries: string; s3Entries: string }>();
  const n = Number(options.entries);
  const tag = ulid().toLowerCase().slice(-8);
  const prefix = `bench-ledger/${tag}/`;

  const objects = new Map<string, Buffer>();
  for (let i = 0; i < n; i++) {
    const e = entry(i, tag);
    objects.set(
      ledgerKey(e.finishedAt, e.evaluationId).replace('ledger/cost/', prefix),
      Buffer.from(JSON.stringify(e)),
    );
  }
  const memory = memoryStore(objects);
  const base = await measure(() => bare(memory, prefix));
  const report = await measure(() => costReport(memory, { from, to, by: { kind: 'team' }, prefix }));
  const byUser = await measure(() => costReport(memory, { from, to, by: { kind: 'user' }, prefix }));
  console.log(`in memory, ${n} entries over 30 days:`);
  console.log(`  bare list + read        ${base.ms.toFixed(0)} ms`);
  console.log(
    `  report --by team        ${report.ms.toFixed(0)} ms (${((n / report.ms) * 1000).toFixed(0)} entries/s, ${(report.ms / base.ms).toFixed(1)}× the bare read), heap growth ${report.heapGrowthMiB.toFixed(1)} MiB, ${report.value.evaluations} evaluations, total ${report.value.total.toFixed(2)}`,
  );
  console.log(
    `  report --by user (500)  ${byUser.ms.toFixed(0)} ms, heap growth ${byUser.heapGrowthMiB.toFixed(1)} MiB`,
  );

  const s3n = Number(options.s3Entries);
  if (s3n <= 0) return;
  const s3 = createS3ObjectStore(loadS3Config());
  const s3prefix = `bench-ledger/${tag}-s3/`;
  const keys: string[] = [];
  for (let i = 0; i < s3n; i++) {
    const e = entry(i, tag);
    keys.push(ledgerKey(e.finishedAt, e.evaluationId).replace('ledger/cost/', s3prefix));
  }
  let next = 0;
  const writeStart = performance.now();
  await Promise.all(
    Array.from({ length: 32 }, async () => {
      while (next < keys.length) {
        const i = next++;
        await s3.put(keys[i]!, JSON.stringify(entry(i, tag)), { contentType: 'application/json' });
      }
    }),
  );
  const writeMs = performance.now() - writeStart;
  try {
    const s3base = await measure(() => bare(s3, s3prefix));
    const s3report = await measure(() =>
      costReport(s3, { from, to, by: { kind: 'team' }, prefix: s3prefix }),
    );
    console.log(`stack S3 (versitygw), ${s3n} entries (written in ${writeMs.toFixed(0)} ms):`);
    console.log(`  bare list + read        ${s3base.ms.toFixed(0)} ms`);
    console.log(
      `  report --by team        ${s3report.ms.toFixed(0)} ms (${(s3report.ms / s3base.ms).toFixed(2)}× the bare read), ${((s3report.ms / s3n) * 1000).toFixed(0)} ms per 1,000 entries → ~${((s3report.ms / s3n) * 100).toFixed(0)} s for 100,000`,
    );
  } finally {
    next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < keys.length) await s3.delete(keys[next++]!).catch(() => undefined);
      }),
    );
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
