/**
 * The objects that point the API server at `assay admission` (docs/kubernetes.md, "Failure handling"): the
 * ValidatingWebhookConfiguration and MutatingWebhookConfiguration, and the CRD with its conversion webhook. The
 * local stack applies them with its URL and CA bundle (`src/stack/kube/admission.ts`).
 *
 * Both webhooks fail closed (`failurePolicy: Fail`) but only for EvaluationJobs: the rules name the resource
 * `evaluationjobs.assay.dev` and nothing else, the system namespaces are excluded by the namespace selector, and an
 * update of a resource being deleted (a finalizer let go) is excluded by a match condition, so an outage of the
 * admission server never blocks another resource, the system namespaces or a deletion.
 *
 * @packageDocumentation
 */
import { evaluationJobCrd, evaluationJobPlural, type WebhookClientConfig } from '../spec/crd.js';
import { evaluationJobGroup } from '../spec/evaluation-job-v1alpha1.js';
import type { JsonObject } from '../spec/json-schema.js';
import { admissionPaths } from './defaults.js';

/** Name of both webhook configurations. */
export const webhookConfigurationName = 'assay-evaluationjobs';
export const validatingWebhookName = `validate.${evaluationJobPlural}.${evaluationJobGroup}`;
export const mutatingWebhookName = `mutate.${evaluationJobPlural}.${evaluationJobGroup}`;

/** Seconds the API server waits for an answer; an answer takes milliseconds (one namespace GET at most). */
export const webhookTimeoutSeconds = 5;

/** Namespaces no webhook of ours is called for. */
export const systemNamespaces = ['kube-system', 'kube-public', 'kube-node-lease'] as const;

/** Where the API server reaches `assay admission`: a base URL (`https://127.0.0.1:18443`) or a Service. */
export type AdmissionEndpoint =
  | { readonly url: string; readonly caBundle: string }
  | {
      readonly service: { readonly namespace: string; readonly name: string; readonly port?: number };
      readonly caBundle: string;
    };

function clientConfig(endpoint: AdmissionEndpoint, path: string): WebhookClientConfig {
  return 'url' in endpoint
    ? { url: `${endpoint.url.replace(/\/$/, '')}${path}`, caBundle: endpoint.caBundle }
    : { service: { ...endpoint.service, path }, caBundle: endpoint.caBundle };
}

function webhook(name: string, endpoint: AdmissionEndpoint, path: string): JsonObject {
  return {
    name,
    admissionReviewVersions: ['v1'],
    sideEffects: 'None',
    failurePolicy: 'Fail',
    // The rules name v1 only; Equivalent makes the API server convert a v1alpha1 request for us.
    matchPolicy: 'Equivalent',
    timeoutSeconds: webhookTimeoutSeconds,
    clientConfig: clientConfig(endpoint, path),
    rules: [
      {
        apiGroups: [evaluationJobGroup],
        apiVersions: ['v1'],
        operations: ['CREATE', 'UPDATE'],
        resources: [evaluationJobPlural],
        scope: 'Namespaced',
      },
    ],
    namespaceSelector: {
      matchExpressions: [
        { key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: [...systemNamespaces] },
      ],
    },
    matchConditions: [
      {
        name: 'not-being-deleted',
        expression: "request.operation != 'UPDATE' || !has(object.metadata.deletionTimestamp)",
      },
    ],
  };
}

/** The validating and mutating webhook configurations. */
export function admissionWebhookConfigurations(endpoint: AdmissionEndpoint): JsonObject[] {
  return [
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'MutatingWebhookConfiguration',
      metadata: { name: webhookConfigurationName },
      webhooks: [
        { ...webhook(mutatingWebhookName, endpoint, admissionPaths.mutate), reinvocationPolicy: 'Never' },
      ],
    },
    {
      apiVersion: 'admissionregistration.k8s.io/v1',
      kind: 'ValidatingWebhookConfiguration',
      metadata: { name: webhookConfigurationName },
      webhooks: [webhook(validatingWebhookName, endpoint, admissionPaths.validate)],
    },
  ];
}

/** Everything to apply: the CRD (conversion through `endpoint`) and both webhook configurations. */
export function admissionManifests(endpoint: AdmissionEndpoint): JsonObject[] {
  return [
    evaluationJobCrd(clientConfig(endpoint, admissionPaths.convert)),
    ...admissionWebhookConfigurations(endpoint),
  ];
}
