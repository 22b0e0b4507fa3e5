/**
 * The `evaluationjobs.assay.dev` CustomResourceDefinition, generated from the zod schemas (docs/kubernetes.md):
 * `v1` (served, stored) is the manifest `assay run -f` takes; `v1alpha1` (served, deprecated) is the older shape with
 * the resource fields directly on `spec` (`./evaluation-job-v1alpha1.ts`), converted by the admission server's
 * conversion webhook. The committed copy is `deploy/crd/evaluationjobs.assay.dev.yaml` (`npm run --silent crd`, then Prettier).
 *
 * @packageDocumentation
 */
import { stringify } from 'yaml';
import {
  evaluationJobOpenApiSchema,
  structuralSchemaOf,
  type JsonObject,
  type JsonValue,
} from './json-schema.js';
import { evaluationJobStatusSchema } from './evaluation-job-status.js';
import { evaluationJobGroup, v1alpha1ResourceFields } from './evaluation-job-v1alpha1.js';

export const evaluationJobPlural = 'evaluationjobs';
export const evaluationJobCrdName = `${evaluationJobPlural}.${evaluationJobGroup}`;

/** How the API server reaches the conversion webhook: a Service in the cluster, or a URL (the local stack's). */
export type WebhookClientConfig =
  | {
      readonly service: {
        readonly namespace: string;
        readonly name: string;
        readonly path: string;
        readonly port?: number;
      };
      readonly caBundle?: string;
    }
  | { readonly url: string; readonly caBundle?: string };

/** Where a production install runs `assay admission`: the Service `assay-admission` in `assay-system`. */
export const defaultConversionClientConfig: WebhookClientConfig = {
  service: { namespace: 'assay-system', name: 'assay-admission', path: '/convert', port: 443 },
};

export const v1alpha1DeprecationWarning =
  'assay.dev/v1alpha1 EvaluationJob is deprecated; use assay.dev/v1 (cpu, memory, ephemeralStorage, gpu and limits move under spec.resources)';

const printerColumns: JsonObject[] = [
  { name: 'Team', type: 'string', jsonPath: '.spec.team' },
  { name: 'User', type: 'string', jsonPath: '.spec.user' },
  { name: 'Phase', type: 'string', jsonPath: '.status.phase' },
  { name: 'Outcome', type: 'string', jsonPath: '.status.outcome' },
  { name: 'Exit', type: 'integer', jsonPath: '.status.exitCode' },
  { name: 'Attempt', type: 'integer', jsonPath: '.status.attempt' },
  { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
];

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function text(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : '';
}

function property(schema: JsonObject, key: string): JsonObject {
  const properties = schema.properties;
  const node = isObject(properties) ? properties[key] : undefined;
  if (!isObject(node)) throw new Error(`internal: the EvaluationJob schema has no property ${key}`);
  return node;
}

/** Timestamps are checked by `format: date-time`; zod's long pattern for them adds nothing. */
function withoutTimestampPatterns(node: JsonValue): JsonValue {
  if (Array.isArray(node)) return node.map(withoutTimestampPatterns);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'pattern' && node.format === 'date-time') continue;
    out[key] = withoutTimestampPatterns(value);
  }
  return out;
}

/** The root of a version's schema: the API server owns apiVersion and kind, so they are plain strings here. */
function versionRoot(spec: JsonObject, apiVersion: string, description: string): JsonObject {
  const manifest = evaluationJobOpenApiSchema();
  return {
    type: 'object',
    description,
    properties: {
      apiVersion: { type: 'string', description: `${apiVersion}.` },
      kind: { type: 'string', description: 'EvaluationJob.' },
      metadata: property(manifest, 'metadata'),
      spec,
      status: withoutTimestampPatterns(structuralSchemaOf(evaluationJobStatusSchema)),
    },
    required: ['spec'],
  };
}

/**
 * The spec fields `assay admission` defaults per team (`src/admission/team-defaults.ts`). The API server applies a
 * schema's defaults before it calls the mutating webhook, so a published default would leave the webhook no absent
 * field to fill: the CRD publishes none for them, and the webhook fills the team's default, else zod's.
 */
export const teamDefaultedSpecFields = ['priority', 'timeoutSeconds'] as const;

/** v1's `spec` schema: the manifest's, without a schema default for the team-defaulted fields. */
function v1SpecSchema(): JsonObject {
  const spec = property(evaluationJobOpenApiSchema(), 'spec');
  const properties: JsonObject = { ...(spec.properties as JsonObject) };
  for (const field of teamDefaultedSpecFields) {
    const { default: fallback, ...rest } = property(spec, field);
    properties[field] = {
      ...rest,
      description: `${text(rest.description)} Default: the team's (assay admission's teamDefaults), else ${JSON.stringify(fallback)}.`,
    };
  }
  return { ...spec, properties };
}

/** v1alpha1's `spec` schema: v1's, with the properties of `resources` in its place. */
function v1alpha1Spec(v1Spec: JsonObject): JsonObject {
  const resources = property(v1Spec, 'resources');
  const properties: JsonObject = {};
  for (const [key, value] of Object.entries(v1Spec.properties as JsonObject)) {
    if (key !== 'resources') properties[key] = value;
    else for (const field of v1alpha1ResourceFields) properties[field] = property(resources, field);
  }
  return {
    ...v1Spec,
    description: `${text(v1Spec.description)} (v1alpha1: the resource fields are directly on spec.)`,
    properties,
  };
}

/**
 * The CRD, with the conversion webhook at `conversion` (a Service reference by default; the local stack passes its
 * URL and CA bundle).
 */
export function evaluationJobCrd(
  conversion: WebhookClientConfig = defaultConversionClientConfig,
): JsonObject {
  const v1Spec = v1SpecSchema();
  const description = text(evaluationJobOpenApiSchema().description);
  const version = (name: string, spec: JsonObject, extra: JsonObject): JsonObject => ({
    name,
    served: true,
    ...extra,
    subresources: { status: {} },
    additionalPrinterColumns: printerColumns,
    schema: { openAPIV3Schema: versionRoot(spec, `${evaluationJobGroup}/${name}`, description) },
  });
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: evaluationJobCrdName },
    spec: {
      group: evaluationJobGroup,
      scope: 'Namespaced',
      names: {
        plural: evaluationJobPlural,
        singular: 'evaluationjob',
        kind: 'EvaluationJob',
        listKind: 'EvaluationJobList',
        shortNames: ['ej'],
        categories: ['assay'],
      },
      conversion: {
        strategy: 'Webhook',
        webhook: { conversionReviewVersions: ['v1'], clientConfig: conversion as unknown as JsonObject },
      },
      versions: [
        version('v1', v1Spec, { storage: true }),
        version('v1alpha1', v1alpha1Spec(v1Spec), {
          storage: false,
          deprecated: true,
          deprecationWarning: v1alpha1DeprecationWarning,
        }),
      ],
    },
  };
}

/** The CRD as YAML, as committed in `deploy/crd/evaluationjobs.assay.dev.yaml`. */
export function evaluationJobCrdYaml(conversion?: WebhookClientConfig): string {
  return `# Generated from the zod schemas by \`npm run --silent crd\`; do not edit.\n${stringify(evaluationJobCrd(conversion), { lineWidth: 0, aliasDuplicateObjects: false })}`;
}
