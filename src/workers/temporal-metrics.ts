/**
 * The Temporal SDK's own metrics on the worker's Prometheus endpoint (docs/quota.md, "Metrics"): the Rust core serves
 * them itself on a loopback port the worker picks at start ({@link coreMetricsExporter}); every scrape of the
 * worker's `/metrics` reads that port ({@link coreScrape}) and appends what it got to the Assay registry's text, minus
 * any metric family the Assay part already has ({@link mergeScrapes}): Prometheus rejects a scrape that names a
 * family twice.
 */
import { createServer } from 'node:net';
import type { MetricsExporterConfig } from '@temporalio/worker';

/** The prefix of every core metric (the SDK's default, kept so Temporal's dashboards apply). */
export const coreMetricPrefix = 'temporal_';

/** A free TCP port on loopback (bound, read and released: the core binds it right after). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise((resolve) => server.close(resolve));
  if (typeof address !== 'object' || address === null) throw new Error('no loopback port');
  return address.port;
}

/**
 * The core's Prometheus exporter on `127.0.0.1:<port>`: names prefixed `temporal_`, durations in seconds (the
 * Prometheus base unit, like every Assay histogram; the names stay the SDK's, e.g.
 * `temporal_workflow_task_schedule_to_start_latency`).
 */
export function coreMetricsExporter(port: number): MetricsExporterConfig {
  return {
    metricPrefix: coreMetricPrefix,
    prometheus: { bindAddress: `127.0.0.1:${port}`, useSecondsForDurations: true },
  };
}

/** Reads the core's `/metrics` at `url`; null when it does not answer 200 within `timeoutMs`. */
export function coreScrape(url: string, timeoutMs = 2000): () => Promise<string | null> {
  return async () => {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) {
        await res.body?.cancel();
        return null;
      }
      return await res.text();
    } catch {
      return null;
    }
  };
}

/** One metric family of a Prometheus text scrape: its name, its comment lines and its samples, in order. */
interface Family {
  readonly name: string;
  readonly comments: string[];
  readonly samples: string[];
  /** Every sample name (`x_bucket`, `x_sum`, …). */
  readonly sampleNames: Set<string>;
}

const sampleName = (line: string): string => /^[^\s{]*/.exec(line)![0];
/** The family a sample of a typed family may be named after it: `x`, `x_bucket`, `x_total`, … */
const familySuffixes = ['', '_bucket', '_sum', '_count', '_total', '_created', '_info', '_gcount', '_gsum'];
const belongsTo = (sample: string, family: string): boolean =>
  familySuffixes.some((s) => sample === family + s);

/** Splits Prometheus text into families; samples without a `# HELP`/`# TYPE` of their own are families too. */
function families(text: string): Family[] {
  const out: Family[] = [];
  let current: Family | null = null;
  const open = (name: string): Family => {
    const family: Family = { name, comments: [], samples: [], sampleNames: new Set() };
    out.push(family);
    return family;
  };
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const comment = /^#\s+(HELP|TYPE)\s+(\S+)/.exec(line);
    if (comment !== null) {
      const name = comment[2]!;
      if (current?.name !== name || current.samples.length > 0) current = open(name);
      current.comments.push(line);
      continue;
    }
    // Any other comment carries no name: dropped.
    if (line.startsWith('#')) continue;
    const name = sampleName(line);
    if (current === null || !belongsTo(name, current.name)) current = open(name);
    current.samples.push(line);
    current.sampleNames.add(name);
  }
  return out;
}

/**
 * The worker's scrape: the Assay registry's text, then the core's families that neither the Assay part nor an
 * earlier core family names (by family or by sample name). A family the core repeats keeps its first HELP/TYPE and
 * gets the later samples.
 */
export function mergeScrapes(assay: string, core: string): string {
  const taken = new Set<string>();
  for (const f of families(assay)) {
    taken.add(f.name);
    for (const s of f.sampleNames) taken.add(s);
  }
  const kept = new Map<string, Family>();
  for (const f of families(core)) {
    const prior = kept.get(f.name);
    if (prior !== undefined) {
      for (const s of f.samples) if (!prior.samples.includes(s)) prior.samples.push(s);
      continue;
    }
    if (taken.has(f.name) || [...f.sampleNames].some((s) => taken.has(s))) continue;
    kept.set(f.name, { ...f, samples: [...f.samples] });
    taken.add(f.name);
    for (const s of f.sampleNames) taken.add(s);
  }
  const appended = [...kept.values()].flatMap((f) => [...f.comments, ...f.samples]);
  if (appended.length === 0) return assay;
  return `${assay.endsWith('\n') || assay === '' ? assay : `${assay}\n`}${appended.join('\n')}\n`;
}
