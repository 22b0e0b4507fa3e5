/**
 * The capture engine against fakes (fakes.ts): every line stored exactly once whatever breaks — the log stream, the
 * store, or the worker (a second capture started from a heartbeated checkpoint).
 */
import { describe, expect, it } from '@jest/globals';
import { LogCapture, type CaptureOptions, type CaptureResult } from '../../../src/logs/capture.js';
import type { CaptureCheckpoint } from '../../../src/logs/checkpoint.js';
import { EventGrouper, type LogEvent, type LogStreamName } from '../../../src/logs/events.js';
import { StoreFailedError } from '../../../src/logs/store-retry.js';
import {
  FakeLogSource,
  MemoryStore,
  forbidden,
  unavailable,
  type FakeSourceOptions,
  type LogLine,
} from './fakes.js';

const keys = {
  stdout: 'e/1/stdout.log',
  stderr: 'e/1/stderr.log',
  combined: 'e/1/combined.log',
  events: 'e/1/events.ndjson',
};

/** Go's RFC3339Nano: trailing zeros of the fraction dropped. */
function ts(second: number, micros: number): string {
  const fraction = String(micros).padStart(6, '0').replace(/0+$/, '');
  return `2025-01-01T00:00:${String(second).padStart(2, '0')}${fraction === '' ? '' : `.${fraction}`}Z`;
}

/** A log of both streams: runs of lines sharing one timestamp, a chained traceback, a last line without newline. */
function sampleLog(): LogLine[] {
  const lines: LogLine[] = [];
  for (let i = 0; i < 240; i++) {
    // Three lines per timestamp, twelve per second; stdout and stderr interleaved.
    const at = ts(Math.floor(i / 12), (Math.floor(i / 3) % 4) * 250_000);
    if (i % 40 === 17) {
      for (const text of [
        'Traceback (most recent call last):',
        '  File "/app/run.py", line 3, in <module>',
        '    load()',
        "KeyError: 'model'",
        '',
        'During handling of the above exception, another exception occurred:',
        '',
        'Traceback (most recent call last):',
        '  File "/app/run.py", line 5, in <module>',
        'RuntimeError: cannot load',
      ]) {
        lines.push({ stream: 'Stderr', ts: at, text });
      }
      continue;
    }
    lines.push({ stream: i % 2 === 0 ? 'Stdout' : 'Stderr', ts: at, text: `line ${i} ${'x'.repeat(i % 7)}` });
    if (i % 10 === 3) lines.push({ stream: 'Stdout', ts: at, text: '    indented continuation' });
  }
  lines.push({ stream: 'Stdout', ts: ts(21, 0), text: 'done, no newline', newline: false });
  return lines;
}

function expectedFile(lines: LogLine[], stream: 'Stdout' | 'Stderr'): string {
  return lines
    .filter((l) => l.stream === stream)
    .map((l) => `${l.text}${l.newline === false ? '' : '\n'}`)
    .join('');
}

function expectedEvents(lines: LogLine[], stream: 'Stdout' | 'Stderr'): LogEvent[] {
  const name: LogStreamName = stream === 'Stdout' ? 'stdout' : 'stderr';
  const events: LogEvent[] = [];
  const g = new EventGrouper<null>(name, {}, (e) => events.push(e));
  for (const l of lines.filter((x) => x.stream === stream)) g.push(l.ts, l.text, null);
  g.flush();
  return events;
}

function storedEvents(store: MemoryStore): LogEvent[] {
  return store
    .text(keys.events)
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as LogEvent);
}

/** Everything stored is exactly the log: each line once, in order per stream, and its events. */
function expectComplete(
  store: MemoryStore,
  lines: LogLine[],
  result?: CaptureResult,
  { resumed = false } = {},
): void {
  expect(store.text(keys.stdout)).toBe(expectedFile(lines, 'Stdout'));
  expect(store.text(keys.stderr)).toBe(expectedFile(lines, 'Stderr'));
  const events = storedEvents(store);
  expect(events.filter((e) => e.stream === 'stdout')).toEqual(expectedEvents(lines, 'Stdout'));
  expect(events.filter((e) => e.stream === 'stderr')).toEqual(expectedEvents(lines, 'Stderr'));
  // After a crash, uploads the checkpoint did not know of yet are left to the store's lifecycle rule.
  if (!resumed) expect(store.uploads.size).toBe(0);
  if (result !== undefined) {
    expect(result.files.stdout?.bytes).toBe(Buffer.byteLength(expectedFile(lines, 'Stdout')));
    expect(result.events.count).toBe(events.length);
  }
}

function capture(
  store: MemoryStore,
  source: FakeLogSource,
  resume: CaptureCheckpoint | null,
  extra: Partial<CaptureOptions> = {},
): LogCapture {
  return new LogCapture({
    store,
    source,
    keys,
    pod: 'pod-1',
    split: true,
    rules: {},
    resume,
    partSizeBytes: 256,
    retryDelayMs: 1,
    maxRetryDelayMs: 2,
    ...extra,
  });
}

const never = (): AbortSignal => new AbortController().signal;

/** Runs a capture that "crashes" (aborts) right after its `crashAt`-th checkpoint; returns the checkpoints seen. */
async function crashingRun(
  store: MemoryStore,
  lines: LogLine[],
  crashAt: number,
  sourceOptions: FakeSourceOptions,
): Promise<CaptureCheckpoint[]> {
  const checkpoints: CaptureCheckpoint[] = [];
  const abort = new AbortController();
  const run = capture(store, new FakeLogSource(lines, sourceOptions), null, {
    onCheckpoint: (c) => {
      checkpoints.push(c);
      if (checkpoints.length === crashAt) abort.abort(new Error('worker crashed'));
    },
  }).run({ abort: abort.signal, drain: never() });
  await expect(run).rejects.toThrow('worker crashed');
  return checkpoints;
}

describe('LogCapture', () => {
  const lines = sampleLog();

  it('stores every line once and groups the events, through connections that break mid-line', async () => {
    const store = new MemoryStore();
    const source = new FakeLogSource(lines, { chunkBytes: 61, breaks: 5, breakAfterBytes: 700 });
    const checkpoints: CaptureCheckpoint[] = [];
    const result = await capture(store, source, null, { onCheckpoint: (c) => checkpoints.push(c) }).run({
      abort: never(),
      drain: never(),
    });
    expectComplete(store, lines, result);
    expect(result.lines).toBe(lines.length);
    // Re-reads started from a cursor, not from the beginning.
    expect(source.opens.length).toBeGreaterThan(2);
    expect(source.opens.filter((o) => o.since !== null).length).toBeGreaterThan(0);
    const last = checkpoints.at(-1)!;
    expect(last.streams.every((s) => s.log.completed)).toBe(true);
    expect(last.events.completed).toBe(true);
    expect(last.eventCount).toBe(result.events.count);
  });

  it('gives the last line, written without a newline, its time in events.ndjson', async () => {
    const store = new MemoryStore();
    await capture(store, new FakeLogSource(lines), null).run({ abort: never(), drain: never() });
    const last = storedEvents(store)
      .filter((e) => e.stream === 'stdout')
      .at(-1);
    expect(last).toEqual({
      stream: 'stdout',
      time: ts(21, 0),
      lines: 1,
      kind: 'line',
      text: 'done, no newline',
    });
  });

  it('gives a last line the kubelet sent without a timestamp the time of its read', async () => {
    const store = new MemoryStore();
    const source = new FakeLogSource(lines.slice(0, 5));
    const served = source.served.bind(source);
    // The stream ends with bytes that carry no timestamp.
    source.served = (stream, since) =>
      stream === 'Stdout'
        ? Buffer.concat([served(stream, since), Buffer.from('partial')])
        : served(stream, since);
    const readAt = new Date('2025-01-01T00:05:00.123Z');
    await capture(store, source, null, { now: () => readAt }).run({ abort: never(), drain: never() });
    expect(store.text(keys.stdout).endsWith('\npartial')).toBe(true);
    const last = storedEvents(store)
      .filter((e) => e.stream === 'stdout')
      .at(-1);
    expect(last).toMatchObject({ time: '2025-01-01T00:05:00.123Z', text: 'partial' });
  });

  it('a second capture from the checkpoint of a crash at any step stores every line exactly once', async () => {
    const total = (await crashingRun(new MemoryStore(), lines, Infinity, {}).catch(() => [])).length;
    // Count the checkpoints of an uninterrupted run.
    const probe: CaptureCheckpoint[] = [];
    await capture(new MemoryStore(), new FakeLogSource(lines), null, {
      onCheckpoint: (c) => probe.push(c),
    }).run({
      abort: never(),
      drain: never(),
    });
    expect(total).toBe(0);
    expect(probe.length).toBeGreaterThan(20);
    for (let crashAt = 1; crashAt <= probe.length; crashAt++) {
      // The heartbeat that reached the server may be the last checkpoint, or an older one (heartbeats are throttled).
      for (const lag of [0, 3]) {
        if (crashAt - lag < 0) continue;
        const store = new MemoryStore();
        const checkpoints = await crashingRun(store, lines, crashAt, { chunkBytes: 53 });
        const resume = crashAt - lag === 0 ? null : checkpoints[crashAt - lag - 1]!;
        const result = await capture(store, new FakeLogSource(lines, { chunkBytes: 71 }), resume).run({
          abort: never(),
          drain: never(),
        });
        try {
          expectComplete(store, lines, result, { resumed: true });
        } catch (err) {
          throw new Error(`crash at checkpoint ${crashAt}, resumed from ${crashAt - lag}: ${String(err)}`, {
            cause: err,
          });
        }
      }
    }
  }, 60_000);

  it('waits out a store that is away during create, part uploads and completion, and loses nothing', async () => {
    const store = new MemoryStore();
    const failures = new Map<string, number>();
    store.fault = (operation) => {
      // The first calls of each kind fail, as while the S3 server restarts.
      if (operation === 'exists' || operation === 'head') return undefined;
      const seen = failures.get(operation) ?? 0;
      if (seen >= 9) return undefined;
      failures.set(operation, seen + 1);
      return unavailable(operation);
    };
    const result = await capture(store, new FakeLogSource(lines), null).run({
      abort: never(),
      drain: never(),
    });
    expect(Object.fromEntries(failures)).toEqual({ createMultipart: 9, uploadPart: 9, completeMultipart: 9 });
    expectComplete(store, lines, result);
  });

  it.each([
    ['createMultipart', 1, (op: string, key: string) => forbidden(op, key)],
    ['uploadPart', 2, (op: string, key: string) => forbidden(op, key)],
    ['completeMultipart', 1, (op: string, key: string) => forbidden(op, key)],
  ])(
    'a %s the store refuses for good fails the capture with LOG_STORE_FAILED; a retry from the checkpoint finishes',
    async (failing, nth, makeError) => {
      const store = new MemoryStore();
      const checkpoints: CaptureCheckpoint[] = [];
      let seen = 0;
      store.fault = (operation, key) =>
        operation === failing && key === keys.stderr && ++seen === nth
          ? makeError(operation, key)
          : undefined;
      const failed = capture(store, new FakeLogSource(lines), null, {
        onCheckpoint: (c) => checkpoints.push(c),
      }).run({ abort: never(), drain: never() });
      const err = await failed.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(StoreFailedError);
      expect((err as StoreFailedError).code).toBe('LOG_STORE_FAILED');
      expect((err as StoreFailedError).cause).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^storing the log failed: /);
      // Nothing of the failed run writes after it has settled (a retry would race it for the same uploads).
      const calls = store.calls.length;
      for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
      expect(store.calls.length).toBe(calls);
      store.fault = null;
      const resume = checkpoints.at(-1) ?? null;
      const result = await capture(store, new FakeLogSource(lines), resume).run({
        abort: never(),
        drain: never(),
      });
      expectComplete(store, lines, result, { resumed: true });
    },
  );

  it('drain on a lost API server: the final read gets no answer, and what was read before is stored', async () => {
    /** Follows the log, then hangs (as a stopped API server does); the final read is never answered. */
    class LostSource extends FakeLogSource {
      override open(
        stream: Parameters<FakeLogSource['open']>[0],
        since: string | null,
        follow: boolean,
        signal: AbortSignal,
      ): Promise<AsyncIterable<Buffer>> {
        this.opens.push({ stream, since, follow });
        const gone = new Promise<never>((_, reject) =>
          signal.addEventListener('abort', () => reject(new Error('socket hang up')), { once: true }),
        );
        if (!follow) return gone;
        const served = this.served(stream, since);
        return Promise.resolve(
          (async function* () {
            yield served;
            await gone;
          })(),
        );
      }
    }
    // A last line without a newline is complete only when the log has ended, which a lost cluster never says.
    const complete = lines.filter((l) => l.newline !== false);
    const store = new MemoryStore();
    const drain = new AbortController();
    const source = new LostSource(complete);
    const running = capture(store, source, null, { drainTimeoutMs: 60_000, drainAnswerTimeoutMs: 50 }).run({
      abort: never(),
      drain: drain.signal,
    });
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    drain.abort(new Error('CANCELLED'));
    const result = await running;
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(source.opens.some((o) => !o.follow)).toBe(true);
    expectComplete(store, complete, result);
  });

  it('drain: stops following, reads what the log holds and finishes', async () => {
    const store = new MemoryStore();
    const drain = new AbortController();
    drain.abort(new Error('CANCELLED'));
    const source = new FakeLogSource(lines);
    const result = await capture(store, source, null).run({ abort: never(), drain: drain.signal });
    expect(source.opens.every((o) => !o.follow)).toBe(true);
    expectComplete(store, lines, result);
  });
});
