import { describe, expect, it } from '@jest/globals';
import {
  EventGrouper,
  eventLimits,
  serializeEvent,
  type LogEvent,
  type MultilineRules,
} from '../../../src/logs/events.js';

const stamp = (i: number): string => `2025-01-01T00:00:${String(i % 60).padStart(2, '0')}Z`;

/** The events of `lines`, each serialized, fed the way the capture feeds them: plain lines as bytes first. */
function groupAsCaptured(
  lines: string[],
  rules: MultilineRules,
): { ndjson: string[]; lasts: number[]; plain: number } {
  const ndjson: string[] = [];
  const lasts: number[] = [];
  let plain = 0;
  const g = new EventGrouper<number>(
    'stderr',
    rules,
    (event, last) => {
      ndjson.push(serializeEvent(event));
      lasts.push(last);
    },
    (time, data, start, end, last) => {
      plain++;
      const text = data.toString('utf8', start, end);
      ndjson.push(serializeEvent({ stream: 'stderr', time, lines: 1, kind: 'line', text }));
      lasts.push(last);
    },
  );
  lines.forEach((line, i) => {
    const bytes = Buffer.from(`>${line}<`);
    if (!g.pushPlain(stamp(i), bytes, 1, bytes.length - 1, i)) g.push(stamp(i), line, i);
  });
  g.flush();
  return { ndjson, lasts, plain };
}

/**
 * The events of `lines` through `push` alone. Every caller also checks that the capture's way (plain lines pushed as
 * bytes) gives the same events, so each grouping case below covers both.
 */
function group(lines: string[], rules: MultilineRules = {}): { events: LogEvent[]; lasts: number[] } {
  const events: LogEvent[] = [];
  const lasts: number[] = [];
  const g = new EventGrouper<number>('stderr', rules, (event, last) => {
    events.push(event);
    lasts.push(last);
  });
  lines.forEach((line, i) => g.push(stamp(i), line, i));
  g.flush();
  const captured = groupAsCaptured(lines, rules);
  expect(captured.ndjson).toEqual(events.map(serializeEvent));
  expect(captured.lasts).toEqual(lasts);
  return { events, lasts };
}

const chained = [
  'starting',
  'Traceback (most recent call last):',
  '  File "/app/run.py", line 3, in <module>',
  "    d['missing']",
  "KeyError: 'missing'",
  '',
  'During handling of the above exception, another exception occurred:',
  '',
  'Traceback (most recent call last):',
  '  File "/app/run.py", line 5, in <module>',
  '    raise ValueError("bad input") from None',
  'ValueError: bad input',
  '',
  'The above exception was the direct cause of the following exception:',
  '',
  'Traceback (most recent call last):',
  '  File "/app/run.py", line 7, in <module>',
  '    raise RuntimeError("giving up") from e',
  'RuntimeError: giving up',
  'done',
];

describe('EventGrouper', () => {
  it('takes plain lines as bytes and gives the same events as push, whatever lines surround them', () => {
    const pool = [
      'plain line 1',
      'a "quoted" word',
      'back\\slash',
      'ünïcode',
      '\ttabbed',
      '    indented',
      '',
      '   ',
      'Traceback (most recent call last):',
      '  File "/app/x.py", line 2, in <module>',
      'ValueError: bad',
      'During handling of the above exception, another exception occurred:',
      '+ Exception Group Traceback (most recent call last):',
      'Thing without a traceback',
      'ctrl\u0001char',
    ];
    // A fixed pseudo-random walk over the pool (deterministic: a linear congruential sequence).
    let x = 7;
    const lines = Array.from({ length: 3000 }, () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return pool[x % pool.length]!;
    });
    const captured = groupAsCaptured(lines, {});
    expect(captured.plain).toBeGreaterThan(50);
    const { events } = group(lines);
    expect(captured.ndjson).toEqual(events.map(serializeEvent));
    // With rules of its own, an evaluation's lines all go through push.
    expect(groupAsCaptured(lines, { continuation: ['^ctrl'] }).plain).toBe(0);
  });

  it('makes a chained Python traceback one event, with its stream, first timestamp and line count', () => {
    const { events, lasts } = group(chained);
    expect(events.map((e) => [e.kind, e.lines])).toEqual([
      ['line', 1],
      ['traceback', 18],
      ['line', 1],
    ]);
    expect(events[1]).toMatchObject({ stream: 'stderr', time: '2025-01-01T00:00:01Z' });
    expect(events[1]?.text.split('\n')).toEqual(chained.slice(1, 19));
    expect(lasts).toEqual([0, 18, 19]);
  });

  it('keeps blank lines after a traceback that no chain follows as their own events', () => {
    const { events } = group(['Traceback (most recent call last):', '  File "x"', 'OSError: no', '', 'next']);
    expect(events.map((e) => [e.kind, e.lines, e.text])).toEqual([
      ['traceback', 3, 'Traceback (most recent call last):\n  File "x"\nOSError: no'],
      ['line', 1, ''],
      ['line', 1, 'next'],
    ]);
  });

  it('joins indented continuation lines to the event before them', () => {
    const { events } = group(['config:', '  a: 1', '\tb: 2', 'other']);
    expect(events.map((e) => [e.kind, e.lines])).toEqual([
      ['multiline', 3],
      ['line', 1],
    ]);
  });

  it('applies per-spec continuation and start patterns', () => {
    const continued = group(['query failed', '...caused by timeout', 'next'], {
      continuation: ['^\\.\\.\\.'],
    });
    expect(continued.events.map((e) => e.lines)).toEqual([2, 1]);
    const started = group(['2025-01-01 ERROR boom', 'at foo()', 'at bar()', '2025-01-01 INFO ok'], {
      start: ['^\\d{4}-\\d\\d-\\d\\d '],
    });
    expect(started.events.map((e) => e.lines)).toEqual([3, 1]);
  });

  it('bounds an event', () => {
    const lines = ['head', ...Array.from({ length: eventLimits.maxLines + 5 }, () => '  more')];
    const { events } = group(lines);
    expect(events[0]?.lines).toBe(eventLimits.maxLines);
    expect(events.reduce((n, e) => n + e.lines, 0)).toBe(lines.length);
  });

  it('regroups identically when restarted after the last line of an emitted event', () => {
    const all = group(chained);
    const cut = all.lasts[0]! + 1;
    const rest = group(chained.slice(cut));
    expect(rest.events.map((e) => e.text)).toEqual(all.events.slice(1).map((e) => e.text));
  });
});

describe('serializeEvent', () => {
  it('writes the same bytes as JSON.stringify, escapes and non-ASCII included', () => {
    for (const text of [
      'plain',
      'quote " and \\ backslash',
      'tab\tcontrol\u0001',
      'héllo – 日本 😀',
      '',
      'a\nb',
    ]) {
      const event: LogEvent = {
        stream: 'stdout',
        time: '2025-01-01T00:00:00.5Z',
        lines: 2,
        kind: 'multiline',
        text,
      };
      expect(serializeEvent(event)).toBe(JSON.stringify(event));
    }
  });
});
