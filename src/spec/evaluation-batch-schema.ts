/**
 * The `EvaluationBatch` manifest (`apiVersion: assay.dev/v1`): one template evaluation expanded into many, either
 * over a matrix of named axes (every combination, first axis slowest) or over an explicit list of entries. Each
 * entry's values are substituted into the template's `command`, `args`, `env` values and labels wherever
 * `${{ matrix.<name> }}` appears (docs/batches.md).
 *
 * The template is kept as written (`z.json()`): it is validated per entry, after substitution, by the EvaluationJob
 * schema (`./evaluation-batch.ts`), so its errors name `spec.template.spec.<field>` and the entry.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { evaluationJobApiVersion } from './spec-constants.js';
import { evaluationNameSchema } from './evaluation-job-schema.js';
import { integer } from './zod-helpers.js';

/** The `kind` of a batch manifest. */
export const evaluationBatchKind = 'EvaluationBatch';

/** Bounds of a batch. `maxEvaluations` is a default: the client may be configured with another. */
export const batchLimits = {
  /** Default largest expansion (`ASSAY_BATCH_MAX_EVALUATIONS` overrides it in the CLI). */
  maxEvaluations: 10_000,
  axes: 16,
  valuesPerAxis: 10_000,
  valueLength: 1024,
  maxConcurrent: 1000,
  retryFailed: 5,
} as const;

/** An axis or entry variable name: `${{ matrix.<name> }}`. */
export const matrixNamePattern = '^[A-Za-z_][A-Za-z0-9_]*$';

const matrixValueSchema = z
  .union([z.string().max(batchLimits.valueLength), z.number(), z.boolean()])
  .describe('A value substituted as text.');
const matrixNameSchema = z
  .string()
  .regex(
    new RegExp(matrixNamePattern),
    'must be a name of letters, digits and "_" (not starting with a digit)',
  );

const variablesSchema = z
  .record(matrixNameSchema, matrixValueSchema)
  .refine((v) => Object.keys(v).length <= batchLimits.axes, `at most ${batchLimits.axes} variables`);

const templateSchema = z
  .strictObject({
    metadata: z
      .strictObject({
        labels: z.record(z.string(), z.string()).optional().describe('Labels of every evaluation.'),
      })
      .optional(),
    spec: z
      .record(z.string(), z.json())
      .describe('An EvaluationJob spec; ${{ matrix.<name> }} in command, args, env, labels.'),
  })
  .describe('The evaluation every entry runs, with its values substituted.');

export const evaluationBatchSpecSchema = z
  .strictObject({
    template: templateSchema,
    matrix: z
      .record(matrixNameSchema, z.array(matrixValueSchema).min(1).max(batchLimits.valuesPerAxis))
      .refine((m) => Object.keys(m).length >= 1, 'needs at least one axis')
      .refine((m) => Object.keys(m).length <= batchLimits.axes, `at most ${batchLimits.axes} axes`)
      .optional()
      .describe('Named axes; one evaluation per combination.'),
    entries: z
      .array(variablesSchema)
      .min(1)
      .max(batchLimits.maxEvaluations * 10)
      .optional()
      .describe('An explicit list of entries, each a map of variables.'),
    maxConcurrent: integer(1, batchLimits.maxConcurrent).default(10).describe('Evaluations running at once.'),
    failFast: z
      .boolean()
      .default(false)
      .describe('Start nothing more after the first evaluation that did not succeed.'),
    retryFailed: integer(0, batchLimits.retryFailed)
      .default(0)
      .describe('Times an evaluation that did not succeed is run again, as <id>-r<n>.'),
  })
  .superRefine((spec, ctx) => {
    if ((spec.matrix === undefined) === (spec.entries === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['matrix'], message: 'give exactly one of matrix and entries' });
    }
  });

export const evaluationBatchSchema = z
  .strictObject({
    apiVersion: z.literal(evaluationJobApiVersion),
    kind: z.literal(evaluationBatchKind),
    metadata: z
      .strictObject({
        name: evaluationNameSchema.optional().describe('The batch id; generated when missing.'),
        labels: z.record(z.string(), z.string()).optional(),
      })
      .default({}),
    spec: evaluationBatchSpecSchema,
  })
  .describe('Many evaluations from one template: a matrix of axes or an explicit list.');

export type EvaluationBatch = z.output<typeof evaluationBatchSchema>;
export type EvaluationBatchInput = z.input<typeof evaluationBatchSchema>;
export type MatrixValue = z.output<typeof matrixValueSchema>;
