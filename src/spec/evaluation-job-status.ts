/**
 * The `status` of an EvaluationJob resource (docs/kubernetes.md): a small summary of the evaluation the resource
 * started — never logs or results, which live in object storage under `recordKey`. Written by the controller through
 * the status subresource; published in the CRD from this schema, so both agree.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { outcomes, phases } from './record.js';

const timestamp = z.iso.datetime({ offset: true });

/** Condition types and reasons are CamelCase words, as in Kubernetes (`metav1.Condition`). */
const conditionReasonPattern = '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$';
const conditionTypePattern =
  '^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$';

/** One condition, the shape of Kubernetes' `metav1.Condition`. */
export const evaluationJobConditionSchema = z
  .strictObject({
    type: z.string().min(1).max(316).regex(new RegExp(conditionTypePattern)).describe('Type, e.g. Started.'),
    status: z.enum(['True', 'False', 'Unknown']).describe('True, False or Unknown.'),
    observedGeneration: z
      .int()
      .min(0)
      .optional()
      .describe('The metadata.generation the condition was set for.'),
    lastTransitionTime: timestamp.describe('When the status last changed.'),
    reason: z
      .string()
      .min(1)
      .max(1024)
      .regex(new RegExp(conditionReasonPattern))
      .describe('Why, as one CamelCase word.'),
    message: z.string().max(32768).describe('Why, for a person.'),
  })
  .describe('A condition in the Kubernetes style.');
export type EvaluationJobCondition = z.output<typeof evaluationJobConditionSchema>;

/** `status` of an EvaluationJob. Every field is optional: the controller fills in what it knows. */
export const evaluationJobStatusSchema = z
  .strictObject({
    phase: z
      .enum(phases)
      .optional()
      .describe(`Phase of the evaluation: ${phases.join(', ')}.`),
    outcome: z
      .enum(outcomes)
      .optional()
      .describe(`How it ended: ${outcomes.join(', ')}.`),
    reason: z.string().max(1024).optional().describe('Why it ended so (e.g. OOMKilled, DeadlineExceeded).'),
    exitCode: z.int().min(-2147483648).max(2147483647).optional().describe('Exit code of the last attempt.'),
    attempt: z.int().min(0).max(1000).optional().describe('The current or last attempt, from 1.'),
    queuePosition: z.int().min(0).optional().describe("Position in the team's quota queue while Queued."),
    evaluationId: z.string().max(128).optional().describe('The evaluation this resource started.'),
    recordKey: z.string().max(1024).optional().describe('Object key of the evaluation record.'),
    startedAt: timestamp.optional().describe('When the first attempt started.'),
    finishedAt: timestamp.optional().describe('When the evaluation ended.'),
    observedGeneration: z.int().min(0).optional().describe('The metadata.generation this status describes.'),
    conditions: z
      .array(evaluationJobConditionSchema)
      .max(16)
      .optional()
      .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] })
      .describe('Conditions in the Kubernetes style.'),
  })
  .describe('What happened to the evaluation; written by the controller.');
export type EvaluationJobStatus = z.output<typeof evaluationJobStatusSchema>;
