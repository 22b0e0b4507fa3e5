/**
 * Kubernetes resource quantities (`500m`, `2`, `1.5Gi`, `1e9`), parsed with the grammar and rounding of
 * `k8s.io/apimachinery/pkg/api/resource.ParseQuantity`, and normalised to the units Assay works in: whole millicores
 * for CPU, whole bytes for memory and storage.
 *
 * Pure functions over strings and bigints: no Node built-ins, so workflows may import this module.
 *
 * @packageDocumentation
 */

/** The three serialisation families of a Kubernetes quantity, named as in apimachinery. */
export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

/** A parsed quantity. */
export interface Quantity {
  /**
   * The value in nano-units (10⁻⁹). Kubernetes keeps nine decimal places: finer values are rounded away from zero,
   * and magnitudes above 2⁶³−1 are capped there, exactly as `ParseQuantity` does.
   */
  readonly nanos: bigint;
  /** The family of the suffix the quantity was written with; plain numbers are `DecimalSI`. */
  readonly format: QuantityFormat;
}

/** Either a value or the reason there is none; parsing user input is expected to fail, so it does not throw. */
export type QuantityResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly message: string };

/** A CPU amount in the only unit Kubernetes allocates: whole millicores. */
export interface CpuAmount {
  readonly millicores: number;
  /** `"2"` for whole cores, otherwise `"500m"`. */
  readonly canonical: string;
}

/** A memory or storage amount in whole bytes. */
export interface ByteAmount {
  readonly bytes: number;
  /** The shortest exact spelling: `"1Gi"`, `"1500M"`, `"1234"`. */
  readonly canonical: string;
}

/** The regular expression the Kubernetes OpenAPI schema of `resource.Quantity` publishes (for CRD schemas). */
export const kubernetesQuantityPattern =
  '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

const NANOS_PER_UNIT = 1_000_000_000n;
// apimachinery caps every quantity at the largest int64 number of whole units.
const MAX_NANOS = ((1n << 63n) - 1n) * NANOS_PER_UNIT;
// The cap has 28 decimal digits; anything that would certainly exceed it is capped without computing a huge power.
const MAX_NANOS_DIGITS = MAX_NANOS.toString().length;

const decimalSuffixes: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};

const binarySuffixes: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };

// The grammar of quantity.go: sign, digits with an optional fraction, then a suffix. apimachinery's hand-written
// scanner also accepts a bare sign or a bare "." as zero; its published OpenAPI pattern does not, and neither do we:
// a quantity without a single digit is a typo, not a request for nothing.
const quantityRe = /^([+-]?)([0-9]*)(?:\.([0-9]*))?(.*)$/;
const exponentRe = /^[eE]([+-]?[0-9]+)$/;

function describe(text: string): string {
  return JSON.stringify(text);
}

function notAQuantity(text: string): { ok: false; message: string } {
  return { ok: false, message: `${describe(text)} is not a Kubernetes quantity` };
}

/**
 * Parses a Kubernetes quantity string.
 *
 * Accepts exactly what `resource.ParseQuantity` accepts (signs, `.5`, `5.`, decimal suffixes `n u m k M G T P E`,
 * binary suffixes `Ki … Ei`, exponents `e3`/`E-3`), except a number with no digit at all (`"."`, `"+"`), which
 * Kubernetes' own OpenAPI pattern rejects too. No whitespace is allowed anywhere.
 */
export function parseQuantity(text: string): QuantityResult<Quantity> {
  const match = quantityRe.exec(text);
  if (!match) return notAQuantity(text);
  const [, sign = '', whole = '', fraction = '', suffix = ''] = match;
  if (whole === '' && fraction === '') return notAQuantity(text);

  let base: 2 | 10;
  let exponent: number;
  let format: QuantityFormat;
  const decimal = decimalSuffixes[suffix];
  const binary = binarySuffixes[suffix];
  if (decimal !== undefined) {
    [base, exponent, format] = [10, decimal, 'DecimalSI'];
  } else if (binary !== undefined) {
    [base, exponent, format] = [2, binary, 'BinarySI'];
  } else {
    const exp = exponentRe.exec(suffix);
    if (!exp?.[1]) return notAQuantity(text);
    // Kubernetes reads the exponent as an int32; anything longer is nonsense we need not represent exactly.
    if (exp[1].replace(/^[+-]?0*/, '').length > 9) return notAQuantity(text);
    [base, exponent, format] = [10, Number(exp[1]), 'DecimalExponent'];
  }

  const digits = `${whole}${fraction}`.replace(/^0+/, '');
  const mantissa = digits === '' ? 0n : BigInt(digits);
  // value = mantissa × 10^(decimalShift) × 2^(binaryShift); in nano-units the decimal shift grows by 9.
  const decimalShift = (base === 10 ? exponent : 0) - fraction.length + 9;
  const binaryShift = base === 2 ? BigInt(exponent) : 0n;

  let nanos: bigint;
  if (mantissa === 0n) {
    nanos = 0n;
  } else if (decimalShift >= 0) {
    nanos =
      digits.length + decimalShift > MAX_NANOS_DIGITS + 1
        ? MAX_NANOS
        : (mantissa << binaryShift) * 10n ** BigInt(decimalShift);
  } else if (-decimalShift > digits.length + 19) {
    // Far below one nano-unit even after the largest binary shift (2⁶⁰ < 10¹⁹): Kubernetes rounds it up to 1n.
    nanos = 1n;
  } else {
    const divisor = 10n ** BigInt(-decimalShift);
    const scaled = mantissa << binaryShift;
    // Round away from zero: "if you want some resources, you should get some resources" (quantity.go).
    nanos = (scaled + divisor - 1n) / divisor;
  }
  if (nanos > MAX_NANOS) nanos = MAX_NANOS;
  return { ok: true, value: { nanos: sign === '-' ? -nanos : nanos, format } };
}

/** Reads a quantity given as a string or, as YAML and JSON allow, as an integer. */
function parseInput(input: string | number): QuantityResult<Quantity> {
  if (typeof input === 'number') {
    // Kubernetes quantities are int-or-string: a fractional JSON number would be refused by the API server.
    if (!Number.isSafeInteger(input)) {
      return {
        ok: false,
        message: `${String(input)} is not a Kubernetes quantity; write fractions and large values as strings, e.g. "0.5" or "500m"`,
      };
    }
    return parseQuantity(String(input));
  }
  return parseQuantity(input);
}

/** Formats whole millicores the way people write CPU: `"2"` for whole cores, `"1500m"` otherwise. */
export function formatMillicores(millicores: number): string {
  return millicores % 1000 === 0 ? String(millicores / 1000) : `${millicores}m`;
}

/**
 * Parses a CPU quantity into whole millicores.
 *
 * Fails on garbage, negative values, values finer than 1m (Kubernetes would silently round `100u` up to `1m`; a
 * spec should say what it gets) and values beyond `Number.MAX_SAFE_INTEGER` millicores.
 */
export function parseCpu(input: string | number): QuantityResult<CpuAmount> {
  const parsed = parseInput(input);
  if (!parsed.ok) return parsed;
  const { nanos } = parsed.value;
  const text = describe(String(input));
  if (nanos < 0n) return { ok: false, message: `${text} is negative` };
  const perMilli = NANOS_PER_UNIT / 1000n;
  if (nanos % perMilli !== 0n) {
    return { ok: false, message: `${text} is finer than 1m; Kubernetes allocates CPU in whole millicores` };
  }
  const millis = nanos / perMilli;
  if (millis > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, message: `${text} is too large` };
  const millicores = Number(millis);
  return { ok: true, value: { millicores, canonical: formatMillicores(millicores) } };
}

const binaryNames = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;
const decimalNames = ['', 'k', 'M', 'G', 'T', 'P', 'E'] as const;

function largestPower(bytes: bigint, step: bigint): number {
  let power = 0;
  let value = bytes;
  while (value !== 0n && value % step === 0n && power < 6) {
    value /= step;
    power++;
  }
  return power;
}

/**
 * Formats whole bytes exactly, with the larger of the binary (`Ki`…`Ei`) and decimal (`k`…`E`) suffixes that divides
 * it; a tie goes to `preferBinary`. The result parses back to the same bytes and formats to itself again.
 */
export function formatBytes(bytes: number | bigint, preferBinary = false): string {
  const value = BigInt(bytes);
  const binary = largestPower(value, 1024n);
  const decimal = largestPower(value, 1000n);
  if (binary === 0 && decimal === 0) return value.toString();
  const useBinary = binary > decimal || (binary === decimal && preferBinary);
  return useBinary
    ? `${value / 1024n ** BigInt(binary)}${binaryNames[binary]}`
    : `${value / 1000n ** BigInt(decimal)}${decimalNames[decimal]}`;
}

/**
 * Parses a memory or storage quantity into whole bytes.
 *
 * Fails on garbage, negative values, fractional bytes (`0.1Ki`, which Kubernetes warns about and rounds) and values
 * beyond `Number.MAX_SAFE_INTEGER` bytes (8 PiB).
 */
export function parseBytes(input: string | number): QuantityResult<ByteAmount> {
  const parsed = parseInput(input);
  if (!parsed.ok) return parsed;
  const { nanos, format } = parsed.value;
  const text = describe(String(input));
  if (nanos < 0n) return { ok: false, message: `${text} is negative` };
  if (nanos % NANOS_PER_UNIT !== 0n) {
    return { ok: false, message: `${text} is not a whole number of bytes` };
  }
  const whole = nanos / NANOS_PER_UNIT;
  if (whole > BigInt(Number.MAX_SAFE_INTEGER)) return { ok: false, message: `${text} is too large` };
  return { ok: true, value: { bytes: Number(whole), canonical: formatBytes(whole, format === 'BinarySI') } };
}
