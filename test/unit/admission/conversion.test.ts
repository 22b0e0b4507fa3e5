import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { conversionResponse, convertEvaluationJob } from '../../../src/admission/conversion.js';
import { evaluationJobOrThrow } from '../../../src/spec/evaluation-job.js';
import type { KubeObject } from '../../../src/admission/review.js';

const v1 = 'assay.dev/v1';
const alpha = 'assay.dev/v1alpha1';

function example(name: string): KubeObject {
  return parse(readFileSync(new URL(`../../../examples/${name}`, import.meta.url), 'utf8')) as KubeObject;
}

/** As the API server stores it: normalised spec, server metadata, a status. */
function stored(manifest: KubeObject): KubeObject {
  const job = evaluationJobOrThrow(manifest);
  return {
    ...JSON.parse(JSON.stringify(job)),
    metadata: { ...job.metadata, uid: 'u-1', resourceVersion: '7', generation: 1 },
    status: { phase: 'Running', attempt: 1 },
  } as KubeObject;
}

const alphaObject: KubeObject = {
  apiVersion: alpha,
  kind: 'EvaluationJob',
  metadata: { name: 'old', namespace: 'team-a', labels: { a: 'b' } },
  spec: {
    team: 'a',
    user: 'ada',
    image: 'busybox:1',
    cpu: '250m',
    memory: '64Mi',
    ephemeralStorage: '1Gi',
    gpu: { count: 2, type: 'nvidia-a100' },
    limits: { memory: '128Mi' },
    timeoutSeconds: 60,
  },
  status: { phase: 'Queued', queuePosition: 3 },
};

describe('EvaluationJob conversion v1alpha1 ↔ v1', () => {
  it('moves the resource fields under spec.resources and leaves the rest as it was', () => {
    const converted = convertEvaluationJob(alphaObject, v1);
    expect(converted).toEqual({
      apiVersion: v1,
      kind: 'EvaluationJob',
      metadata: alphaObject.metadata,
      spec: {
        team: 'a',
        user: 'ada',
        image: 'busybox:1',
        timeoutSeconds: 60,
        resources: {
          cpu: '250m',
          memory: '64Mi',
          ephemeralStorage: '1Gi',
          gpu: { count: 2, type: 'nvidia-a100' },
          limits: { memory: '128Mi' },
        },
      },
      status: alphaObject.status,
    });
  });

  it('round-trips exactly: v1alpha1 → v1 → v1alpha1', () => {
    expect(convertEvaluationJob(convertEvaluationJob(alphaObject, v1), alpha)).toEqual(alphaObject);
    const bare = { ...alphaObject, spec: { team: 'a', user: 'ada', image: 'busybox:1' } };
    expect(convertEvaluationJob(convertEvaluationJob(bare, v1), alpha)).toEqual(bare);
  });

  it.each(['minimal.yaml', 'full.yaml', 'demo/evaluation.yaml'])(
    'round-trips exactly: v1 → v1alpha1 → v1, for examples/%s as written and as stored',
    (name) => {
      for (const object of [example(name), stored(example(name))]) {
        const down = convertEvaluationJob(object, alpha);
        expect(down.apiVersion).toBe(alpha);
        expect((down.spec as KubeObject).resources).toBeUndefined();
        expect(down.metadata).toEqual(object.metadata);
        expect(down.status).toEqual(object.status);
        expect(convertEvaluationJob(down, v1)).toEqual(object);
      }
    },
  );

  it('returns an object already in the desired version unchanged', () => {
    expect(convertEvaluationJob(alphaObject, alpha)).toBe(alphaObject);
  });

  it('answers a ConversionReview with every object converted, or a failure naming the bad version', () => {
    const ok = conversionResponse({
      uid: 'x',
      desiredAPIVersion: v1,
      objects: [alphaObject, example('minimal.yaml')],
    });
    expect(ok).toMatchObject({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'ConversionReview',
      response: { uid: 'x', result: { status: 'Success' } },
    });
    const objects = (ok.response as { convertedObjects: KubeObject[] }).convertedObjects;
    expect(objects.map((o) => o.apiVersion)).toEqual([v1, v1]);

    const bad = conversionResponse({ uid: 'y', desiredAPIVersion: 'assay.dev/v2', objects: [alphaObject] });
    expect(bad.response).toEqual({
      uid: 'y',
      convertedObjects: [],
      result: { status: 'Failure', message: expect.stringContaining('"assay.dev/v2"') },
    });
  });
});
