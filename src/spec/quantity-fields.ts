/**
 * zod fields for Kubernetes quantities: CPU and memory/storage amounts checked against bounds and normalised to their
 * canonical spelling, and byte counts written as a number or a quantity. Kubernetes quantities are int-or-string, and
 * the JSON Schema says so (`x-kubernetes-int-or-string`).
 */
import { z } from 'zod';
import {
  parseBytes,
  parseCpu,
  formatBytes,
  formatMillicores,
  kubernetesQuantityPattern,
} from './quantity.js';
import { quote } from './kubernetes-rules.js';
import { specLimits } from './spec-constants.js';
import { describeInput } from './zod-helpers.js';

// Kubernetes quantities are int-or-string. Fractional numbers are accepted here only to be refused with advice
// (parseCpu/parseBytes say to quote them), because the API server would refuse them with a vaguer message.
const quantityInput = z.union([z.string(), z.number()], {
  error: (issue) =>
    `must be a Kubernetes quantity such as "500m", "2" or "1Gi", not ${describeInput(issue.input)}`,
});

const intOrStringMeta = { 'x-kubernetes-int-or-string': true, pattern: kubernetesQuantityPattern };

function tooLong(value: string | number): string | undefined {
  return typeof value === 'string' && value.length > specLimits.quantityLength
    ? `quantity is longer than ${specLimits.quantityLength} characters`
    : undefined;
}

/** A CPU quantity; parses to its canonical spelling (`"500m"`, `"2"`). */
export function cpuQuantity(description: string) {
  return quantityInput
    .transform((value, ctx) => {
      const problem = tooLong(value);
      const parsed = parseCpu(value);
      if (problem || !parsed.ok) {
        ctx.addIssue({ code: 'custom', message: problem ?? (parsed.ok ? '' : parsed.message), input: value });
        return z.NEVER;
      }
      const { millicores, canonical } = parsed.value;
      if (millicores < specLimits.minCpuMillicores) {
        ctx.addIssue({
          code: 'custom',
          message: `${quote(String(value))} is less than the minimum 1m`,
          input: value,
        });
      } else if (millicores > specLimits.maxCpuMillicores) {
        const max = formatMillicores(specLimits.maxCpuMillicores);
        ctx.addIssue({
          code: 'custom',
          message: `${quote(String(value))} is more than the maximum ${max}`,
          input: value,
        });
      }
      return canonical;
    })
    .meta({ ...intOrStringMeta, description });
}

/** Inclusive bounds of a byte quantity. */
export interface ByteBounds {
  readonly min: number;
  readonly max: number;
}

/** A byte quantity checked against bounds; parses to whole bytes and the canonical spelling. */
function byteAmount(bounds: ByteBounds) {
  return quantityInput.transform((value, ctx) => {
    const problem = tooLong(value);
    const parsed = parseBytes(value);
    if (problem || !parsed.ok) {
      ctx.addIssue({ code: 'custom', message: problem ?? (parsed.ok ? '' : parsed.message), input: value });
      return z.NEVER;
    }
    const { bytes } = parsed.value;
    if (bytes < bounds.min) {
      const min = formatBytes(bounds.min, true);
      ctx.addIssue({
        code: 'custom',
        message: `${quote(String(value))} is less than the minimum ${min}`,
        input: value,
      });
    } else if (bytes > bounds.max) {
      const max = formatBytes(bounds.max, true);
      ctx.addIssue({
        code: 'custom',
        message: `${quote(String(value))} is more than the maximum ${max}`,
        input: value,
      });
    }
    return parsed.value;
  });
}

/** A memory or storage quantity; parses to its canonical spelling (`"1Gi"`, `"1500M"`). */
export function byteQuantity(bounds: ByteBounds, description: string) {
  return byteAmount(bounds)
    .transform((amount) => amount.canonical)
    .meta({ ...intOrStringMeta, description });
}

/** A size in bytes, written as a number or a quantity (`"10Mi"`); parses to a number of bytes. */
export function byteCount(bounds: ByteBounds, defaultBytes: number, description: string) {
  return byteAmount(bounds)
    .transform((amount) => amount.bytes)
    .default(defaultBytes)
    .meta({ ...intOrStringMeta, default: defaultBytes, description });
}
