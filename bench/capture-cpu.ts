/**
 * CPU cost of the log capture engine alone (prints figures; asserts nothing; no stack needed):
 *   npx tsx bench/capture-cpu.ts [--mb 100] [--rounds 3]
 *
 * A log of `--mb` megabytes in 100-byte timestamped lines (as the API server sends it with `timestamps=true`) is fed
 * in 64 KiB chunks to (a) a baseline that only walks the bytes the way a bare read's consumer would — counting newlines — and
 * (b) the capture: line splitting, event grouping and multipart parts into an in-memory store. Both in this process,
 * alternating, so the ratio is read off the same machine state.
 */
import { Readable } from 'node:stream';
import { Command } from 'commander';
import { LogCapture } from '../src/logs/capture.js';
import type { LogSource } from '../src/logs/source.js';
import type { PutResult, UploadedPart } from '../src/storage/object-store.js';
import { MemoryStore } from '../test/unit/logs/fakes.js';

/** The in-memory store without its bookkeeping (copies, MD5s): parts are counted and dropped, as a network store would. */
class DiscardingStore extends MemoryStore {
  override uploadPart(
    key: string,
    _uploadId: string,
    partNumber: number,
    body: Buffer | Uint8Array | string,
  ): Promise<UploadedPart> {
    return Promise.resolve({ partNumber, etag: `${key}-${partNumber}`, size: body.length });
  }
  override completeMultipart(key: string, _uploadId: string, parts: readonly unknown[]): Promise<PutResult> {
    return Promise.resolve({ key, etag: undefined, parts: parts.length });
  }
}

/**
 * The log as 64 KiB chunks: one chunk of distinct lines, repeated (a capture copies what it keeps, so the repeats cost
 * it what distinct chunks would; nothing but the capture's own buffers stays in memory).
 */
function* makeLog(mb: number): Generator<Buffer> {
  const parts: string[] = [];
  let size = 0;
  const base = Date.parse('2026-12-01T00:00:00Z');
  for (let i = 0; size < 64 * 1024; i++) {
    const ts = new Date(base + Math.floor(i / 10)).toISOString().replace('Z', `${String(i % 10)}12345Z`);
    const line = `${ts} ${String(i).padStart(9, '0')} ${'x'.repeat(58)}\n`;
    parts.push(line);
    size += line.length;
  }
  const chunk = Buffer.from(parts.join(''));
  for (let sent = 0; sent < mb * 1e6; sent += chunk.length) yield chunk;
}

function baseline(chunks: Iterable<Buffer>): number {
  let n = 0;
  for (const c of chunks) {
    let at = c.indexOf(0x0a);
    while (at >= 0) {
      n++;
      at = c.indexOf(0x0a, at + 1);
    }
  }
  return n;
}

async function capture(chunks: Iterable<Buffer>): Promise<number> {
  const store = new DiscardingStore();
  const source: LogSource = {
    open: (stream) => Promise.resolve(Readable.from(stream === 'Stderr' ? [] : chunks)),
    state: () => Promise.resolve('ended'),
  };
  const result = await new LogCapture({
    store,
    source,
    keys: { stdout: 'o', stderr: 'e', combined: 'c', events: 'ev' },
    pod: 'bench',
    split: true,
    rules: {},
    resume: null,
  }).run({ abort: new AbortController().signal, drain: new AbortController().signal });
  return result.lines;
}

async function main(): Promise<void> {
  const opts = new Command()
    .option('--mb <n>', 'log size in MB', '100')
    .option('--rounds <n>', 'alternating rounds', '3')
    .parse()
    .opts<{ mb: string; rounds: string }>();
  const mb = Number(opts.mb);
  let bytes = 0;
  for (const c of makeLog(mb)) bytes += c.length;
  const rss0 = process.memoryUsage().rss;
  for (let r = 1; r <= Number(opts.rounds); r++) {
    let t = performance.now();
    const lines = baseline(makeLog(mb));
    const base = (performance.now() - t) / 1000;
    const cpu0 = process.cpuUsage();
    t = performance.now();
    const captured = await capture(makeLog(mb));
    const cap = (performance.now() - t) / 1000;
    const cpu = process.cpuUsage(cpu0);
    if (captured !== lines) throw new Error(`captured ${captured} lines of ${lines}`);
    console.log(
      `round ${r}: ${(bytes / 1e6).toFixed(0)} MB, ${lines} lines: baseline ${base.toFixed(2)} s; capture ${cap.toFixed(2)} s ` +
        `(${(bytes / 1e6 / cap).toFixed(0)} MB/s, CPU ${((cpu.user + cpu.system) / 1e6).toFixed(2)} s, ` +
        `${((cap * 1e9) / lines).toFixed(0)} ns/line); RSS ${(rss0 / 1e6).toFixed(0)} MB before the first capture, ` +
        `peak ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`,
    );
  }
}

await main();
