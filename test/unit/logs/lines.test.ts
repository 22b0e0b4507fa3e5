import { describe, expect, it } from '@jest/globals';
import { LineSplitter, ResumeFilter, advance, timestampKey } from '../../../src/logs/lines.js';

describe('timestampKey', () => {
  it('orders RFC3339Nano timestamps whose fractions were trimmed', () => {
    const a = '2025-01-01T00:00:00.1Z';
    const b = '2025-01-01T00:00:00.10001Z';
    expect(a > b).toBe(true); // as strings: wrong
    expect(timestampKey(a) < timestampKey(b)).toBe(true);
    expect(timestampKey('2025-01-01T00:00:01Z') > timestampKey(b)).toBe(true);
  });
});

describe('LineSplitter', () => {
  it('splits timestamped lines whatever the chunking, and keeps a last line without newline', () => {
    const text = '2025-01-01T00:00:00.5Z hello\n2025-01-01T00:00:00.5Z  indented\n2025-01-01T00:00:01Z tail';
    const bytes = Buffer.from(text);
    for (const size of [1, 3, 7, 64]) {
      const s = new LineSplitter();
      const lines = [];
      for (let i = 0; i < bytes.length; i += size) lines.push(...s.push(bytes.subarray(i, i + size)));
      const last = s.end();
      expect(lines.map((l) => [l.ts, l.text.toString(), l.newline])).toEqual([
        ['2025-01-01T00:00:00.5Z', 'hello', true],
        ['2025-01-01T00:00:00.5Z', ' indented', true],
      ]);
      expect(last && [last.ts, last.text.toString(), last.newline]).toEqual([
        '2025-01-01T00:00:01Z',
        'tail',
        false,
      ]);
    }
  });
});

describe('ResumeFilter and cursors', () => {
  it('skips exactly the lines up to the cursor, also when several lines share its timestamp', () => {
    const ts = [
      '2025-01-01T00:00:00Z',
      '2025-01-01T00:00:01Z',
      '2025-01-01T00:00:01Z',
      '2025-01-01T00:00:01Z',
    ];
    let cursor = null;
    for (const t of ts.slice(0, 3)) cursor = advance(cursor, t);
    expect(cursor).toEqual({ ts: '2025-01-01T00:00:01Z', n: 2 });
    const filter = new ResumeFilter(cursor);
    expect(ts.map((t) => filter.accept(t))).toEqual([false, false, false, true]);
  });
});
