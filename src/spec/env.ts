import { z } from 'zod';

/**
 * Parses a boolean environment variable explicitly: `1/true/yes/on` and `0/false/no/off` (any case); an empty or
 * missing value is `undefined`. Anything else is an error rather than a silent `false`.
 */
export const envBoolean = z
  .string()
  .trim()
  .toLowerCase()
  .optional()
  .transform((value, ctx) => {
    if (value === undefined || value === '') return undefined;
    if (['1', 'true', 'yes', 'on'].includes(value)) return true;
    if (['0', 'false', 'no', 'off'].includes(value)) return false;
    ctx.addIssue({
      code: 'custom',
      message: `"${value}" is not a boolean (use true/false, 1/0, yes/no, on/off)`,
    });
    return z.NEVER;
  });
