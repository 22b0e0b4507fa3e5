/**
 * The wire formats the API server speaks to webhooks: `admission.k8s.io/v1` AdmissionReview and
 * `apiextensions.k8s.io/v1` ConversionReview. Requests are parsed with zod at the boundary (a malformed review is
 * answered 400 naming the field); objects inside stay plain JSON maps, checked by the handlers.
 *
 * @packageDocumentation
 */
import { z } from 'zod';

/** A Kubernetes object as JSON: what a review carries. */
export type KubeObject = { [key: string]: unknown };

export function isMap(value: unknown): value is KubeObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const objectSchema = z.record(z.string(), z.unknown());

export const admissionRequestSchema = z.looseObject({
  uid: z.string().min(1),
  kind: z.looseObject({ group: z.string(), version: z.string(), kind: z.string() }),
  resource: z.looseObject({ group: z.string(), version: z.string(), resource: z.string() }),
  subResource: z.string().optional(),
  name: z.string().optional(),
  namespace: z.string().optional(),
  operation: z.enum(['CREATE', 'UPDATE', 'DELETE', 'CONNECT']),
  userInfo: z.looseObject({
    username: z.string().optional(),
    uid: z.string().optional(),
    groups: z.array(z.string()).optional(),
  }),
  object: objectSchema.nullable().optional(),
  oldObject: objectSchema.nullable().optional(),
  dryRun: z.boolean().optional(),
});
export type AdmissionRequest = z.output<typeof admissionRequestSchema>;

export const admissionReviewSchema = z.looseObject({
  apiVersion: z.literal('admission.k8s.io/v1'),
  kind: z.literal('AdmissionReview'),
  request: admissionRequestSchema,
});

export const conversionReviewSchema = z.looseObject({
  apiVersion: z.literal('apiextensions.k8s.io/v1'),
  kind: z.literal('ConversionReview'),
  request: z.looseObject({
    uid: z.string().min(1),
    desiredAPIVersion: z.string().min(1),
    objects: z.array(objectSchema),
  }),
});
export type ConversionRequest = z.output<typeof conversionReviewSchema>['request'];

/** One field error, as `metav1.StatusCause`. */
export interface StatusCause {
  readonly type: string;
  readonly message: string;
  readonly field?: string;
}

/** A refusal, as the `status` of an AdmissionResponse (`metav1.Status`). */
export interface Refusal {
  readonly code: number;
  readonly reason: string;
  readonly message: string;
  readonly causes?: readonly StatusCause[];
  /** The object refused, so kubectl can say `The EvaluationJob "x" is invalid: …`. */
  readonly subject?: { readonly group: string; readonly kind: string; readonly name?: string };
}

/** What a handler decides; the server wraps it into the AdmissionReview response. */
export type AdmissionDecision =
  | {
      readonly allowed: true;
      readonly patch?: readonly JsonPatchOperation[];
      readonly warnings?: readonly string[];
    }
  | { readonly allowed: false; readonly refusal: Refusal };

export interface JsonPatchOperation {
  readonly op: 'add' | 'replace' | 'remove';
  readonly path: string;
  readonly value?: unknown;
}

/** The AdmissionReview response body for a decision. */
export function admissionResponse(uid: string, decision: AdmissionDecision): KubeObject {
  const response: KubeObject = { uid, allowed: decision.allowed };
  if (decision.allowed) {
    if (decision.patch && decision.patch.length > 0) {
      response.patchType = 'JSONPatch';
      response.patch = Buffer.from(JSON.stringify(decision.patch)).toString('base64');
    }
    if (decision.warnings && decision.warnings.length > 0) response.warnings = decision.warnings;
  } else {
    const { code, reason, message, causes, subject } = decision.refusal;
    const details = { ...subject, ...(causes && causes.length > 0 ? { causes } : {}) };
    response.status = {
      status: 'Failure',
      code,
      reason,
      message,
      ...(Object.keys(details).length > 0 ? { details } : {}),
    };
  }
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}

/** JSON with sorted keys: two values are the same JSON exactly when their canonical texts are equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    isMap(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) : v,
  );
}
