import { describe, expect, it } from '@jest/globals';
import {
  formatBytes,
  formatMillicores,
  kubernetesQuantityPattern,
  parseBytes,
  parseCpu,
  parseQuantity,
} from '../../../src/spec/quantity.js';

const nanos = (text: string): bigint => {
  const result = parseQuantity(text);
  if (!result.ok) throw new Error(result.message);
  return result.value.nanos;
};

const MAX_NANOS = ((1n << 63n) - 1n) * 1_000_000_000n;

describe('parseQuantity', () => {
  // Values as apimachinery's ParseQuantity computes them (quantity_test.go), in nano-units.
  it.each<[string, bigint]>([
    ['0', 0n],
    ['1', 1_000_000_000n],
    ['+1', 1_000_000_000n],
    ['-1', -1_000_000_000n],
    ['-0', 0n],
    ['0.5', 500_000_000n],
    ['.5', 500_000_000n],
    ['5.', 5_000_000_000n],
    ['007', 7_000_000_000n],
    ['1n', 1n],
    ['1u', 1_000n],
    ['1m', 1_000_000n],
    ['500m', 500_000_000n],
    ['1k', 1_000_000_000_000n],
    ['1M', 10n ** 15n],
    ['1G', 10n ** 18n],
    ['1T', 10n ** 21n],
    ['1P', 10n ** 24n],
    ['1E', 10n ** 27n],
    ['1Ki', 1024n * 10n ** 9n],
    ['1Mi', 1024n ** 2n * 10n ** 9n],
    ['1Gi', 1024n ** 3n * 10n ** 9n],
    ['1Ti', 1024n ** 4n * 10n ** 9n],
    ['1Pi', 1024n ** 5n * 10n ** 9n],
    ['1Ei', 1024n ** 6n * 10n ** 9n],
    ['1.5Gi', 1_610_612_736n * 10n ** 9n],
    ['0.5Ki', 512n * 10n ** 9n],
    ['1e3', 1_000n * 10n ** 9n],
    ['1E3', 1_000n * 10n ** 9n],
    ['1e+3', 1_000n * 10n ** 9n],
    ['1e-3', 1_000_000n],
    ['1.5e3', 1_500n * 10n ** 9n],
    ['12e-1', 1_200_000_000n],
    ['0e999999', 0n],
  ])('%s is %s nano-units', (text, expected) => {
    expect(nanos(text)).toBe(expected);
  });

  it('rounds values finer than one nano-unit away from zero, as Kubernetes does', () => {
    expect(nanos('0.1n')).toBe(1n);
    expect(nanos('1.0000000001')).toBe(1_000_000_001n);
    expect(nanos('-0.1n')).toBe(-1n);
    expect(nanos('1e-100')).toBe(1n);
  });

  it('caps magnitudes at 2^63-1 units, as Kubernetes does', () => {
    expect(nanos('1e100')).toBe(MAX_NANOS);
    expect(nanos('99999999999999999999999999Ei')).toBe(MAX_NANOS);
    expect(nanos('-1e100')).toBe(-MAX_NANOS);
  });

  it('records the suffix family', () => {
    const format = (text: string) => {
      const result = parseQuantity(text);
      return result.ok ? result.value.format : undefined;
    };
    expect(format('1Gi')).toBe('BinarySI');
    expect(format('1G')).toBe('DecimalSI');
    expect(format('100')).toBe('DecimalSI');
    expect(format('1e9')).toBe('DecimalExponent');
  });

  it.each([
    '',
    ' ',
    '12 parsecs',
    '1 Gi',
    ' 1',
    '1 ',
    '1\n',
    '.',
    '+',
    '-',
    '+-1',
    'Gi',
    '1K',
    '1ki',
    '1gi',
    '1GB',
    '1Gib',
    '1iB',
    '1e',
    '1e+',
    '1e1.5',
    '1ee3',
    '1Mi3',
    '1.2.3',
    '0x10',
    '1_000',
    '1,5',
    'Infinity',
    'NaN',
    '١',
  ])('rejects %j with a message naming the input', (text) => {
    const result = parseQuantity(text);
    expect(result).toEqual({ ok: false, message: `${JSON.stringify(text)} is not a Kubernetes quantity` });
  });

  it('accepts exactly what the published Kubernetes quantity pattern accepts, on these samples', () => {
    const pattern = new RegExp(kubernetesQuantityPattern);
    for (const text of ['1', '1.5Gi', '500m', '1e3', '.5', '5.', '-1', '+1E-3']) {
      expect(pattern.test(text)).toBe(true);
      expect(parseQuantity(text).ok).toBe(true);
    }
    for (const text of ['.', '+', '1K', '1 Gi', '12 parsecs']) {
      expect(pattern.test(text)).toBe(false);
      expect(parseQuantity(text).ok).toBe(false);
    }
  });
});

describe('parseCpu', () => {
  it.each<[string | number, number, string]>([
    ['1', 1000, '1'],
    [2, 2000, '2'],
    ['0.5', 500, '500m'],
    ['500m', 500, '500m'],
    ['1500m', 1500, '1500m'],
    ['1.5', 1500, '1500m'],
    ['2000m', 2000, '2'],
    ['1e-3', 1, '1m'],
    ['0.001k', 1000, '1'],
    ['1000000u', 1000, '1'],
    ['100000000n', 100, '100m'],
    ['0', 0, '0'],
  ])('%j is %d millicores, written %j', (input, millicores, canonical) => {
    expect(parseCpu(input)).toEqual({ ok: true, value: { millicores, canonical } });
  });

  it('rejects what is finer than a millicore instead of silently rounding it', () => {
    expect(parseCpu('100u')).toEqual({
      ok: false,
      message: '"100u" is finer than 1m; Kubernetes allocates CPU in whole millicores',
    });
    expect(parseCpu('1.0005').ok).toBe(false);
  });

  it('rejects negative, fractional-number and garbage input', () => {
    expect(parseCpu('-1')).toEqual({ ok: false, message: '"-1" is negative' });
    expect(parseCpu(0.5)).toEqual({
      ok: false,
      message:
        '0.5 is not a Kubernetes quantity; write fractions and large values as strings, e.g. "0.5" or "500m"',
    });
    expect(parseCpu('two')).toEqual({ ok: false, message: '"two" is not a Kubernetes quantity' });
    expect(parseCpu(Number.NaN).ok).toBe(false);
  });

  it('round-trips its canonical form', () => {
    for (const input of ['1', '250m', '1.25', '64', '0.1']) {
      const first = parseCpu(input);
      if (!first.ok) throw new Error(first.message);
      expect(parseCpu(first.value.canonical)).toEqual(first);
    }
  });

  it('formats millicores', () => {
    expect(formatMillicores(0)).toBe('0');
    expect(formatMillicores(1)).toBe('1m');
    expect(formatMillicores(1000)).toBe('1');
    expect(formatMillicores(256_000)).toBe('256');
  });
});

describe('parseBytes', () => {
  it.each<[string | number, number, string]>([
    ['1Gi', 1024 ** 3, '1Gi'],
    ['1024Mi', 1024 ** 3, '1Gi'],
    ['1536Mi', 1536 * 1024 ** 2, '1536Mi'],
    ['0.5Gi', 512 * 1024 ** 2, '512Mi'],
    ['1G', 1e9, '1G'],
    ['1000M', 1e9, '1G'],
    ['1.5G', 1.5e9, '1500M'],
    ['1e9', 1e9, '1G'],
    [1073741824, 1024 ** 3, '1Gi'],
    ['128974848', 128974848, '123Mi'],
    ['129e6', 129e6, '129M'],
    ['2000Ki', 2_048_000, '2000Ki'],
    ['2048000', 2_048_000, '2048k'],
    ['1234', 1234, '1234'],
    ['0', 0, '0'],
    ['1Ti', 1024 ** 4, '1Ti'],
    ['1.953125Ki', 2000, '2k'],
  ])('%j is %d bytes, written %j', (input, bytes, canonical) => {
    expect(parseBytes(input)).toEqual({ ok: true, value: { bytes, canonical } });
  });

  it('rejects fractional bytes, which Kubernetes only warns about', () => {
    expect(parseBytes('0.1Ki')).toEqual({ ok: false, message: '"0.1Ki" is not a whole number of bytes' });
    expect(parseBytes('500m').ok).toBe(false);
  });

  it('rejects negative, garbage and unsafe values', () => {
    expect(parseBytes('-1Gi')).toEqual({ ok: false, message: '"-1Gi" is negative' });
    expect(parseBytes('12 parsecs')).toEqual({
      ok: false,
      message: '"12 parsecs" is not a Kubernetes quantity',
    });
    expect(parseBytes('16Pi')).toEqual({ ok: false, message: '"16Pi" is too large' });
    expect(parseBytes(1.5).ok).toBe(false);
  });

  it('keeps its canonical form stable: parse(format(x)) formats to the same text', () => {
    for (const input of [
      '1Gi',
      '1G',
      '2000Ki',
      '2048000',
      '123456789',
      '1.953125Ki',
      '3Mi',
      '5e6',
      '0.25Ti',
    ]) {
      const first = parseBytes(input);
      if (!first.ok) throw new Error(first.message);
      const second = parseBytes(first.value.canonical);
      expect(second).toEqual(first);
    }
  });

  it('formats bytes exactly with the larger suffix, ties to the preferred family', () => {
    expect(formatBytes(0)).toBe('0');
    expect(formatBytes(1000)).toBe('1k');
    expect(formatBytes(1024)).toBe('1Ki');
    expect(formatBytes(1024000)).toBe('1024k');
    expect(formatBytes(1024000, true)).toBe('1000Ki');
    expect(formatBytes(1024n ** 6n)).toBe('1Ei');
    expect(formatBytes(10n ** 18n)).toBe('1E');
  });
});
