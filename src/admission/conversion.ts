/**
 * The conversion webhook (`/convert`): EvaluationJobs between `assay.dev/v1alpha1` and `assay.dev/v1`
 * (`src/spec/evaluation-job-v1alpha1.ts`). Only `apiVersion` and `spec` change; metadata and status are returned as
 * they came, as the API server requires.
 *
 * @packageDocumentation
 */
import {
  evaluationJobV1,
  evaluationJobV1alpha1,
  specFromV1alpha1,
  specToV1alpha1,
} from '../spec/evaluation-job-v1alpha1.js';
import type { ConversionRequest, KubeObject } from './review.js';

const versions = [evaluationJobV1, evaluationJobV1alpha1];

/**
 * Converts one object to `desired`.
 * @throws Error naming the version when either is not one of ours.
 */
export function convertEvaluationJob(object: KubeObject, desired: string): KubeObject {
  const from = object.apiVersion;
  if (typeof from !== 'string' || !versions.includes(from)) {
    throw new Error(
      `cannot convert from apiVersion ${JSON.stringify(from)}: expected one of ${versions.join(', ')}`,
    );
  }
  if (!versions.includes(desired)) {
    throw new Error(
      `cannot convert to apiVersion ${JSON.stringify(desired)}: expected one of ${versions.join(', ')}`,
    );
  }
  if (from === desired) return object;
  const { spec, ...rest } = object;
  const converted: KubeObject = { ...rest, apiVersion: desired };
  if (spec !== undefined)
    converted.spec = desired === evaluationJobV1 ? specFromV1alpha1(spec) : specToV1alpha1(spec);
  return converted;
}

/** The ConversionReview response for a request: every object converted, or a failure naming the first problem. */
export function conversionResponse(request: ConversionRequest): KubeObject {
  let response: KubeObject;
  try {
    const convertedObjects = request.objects.map((object) =>
      convertEvaluationJob(object, request.desiredAPIVersion),
    );
    response = { uid: request.uid, convertedObjects, result: { status: 'Success' } };
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    response = { uid: request.uid, convertedObjects: [], result: { status: 'Failure', message } };
  }
  return { apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', response };
}
