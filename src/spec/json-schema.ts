/**
 * The EvaluationJob manifest as a JSON Schema in the OpenAPI v3 dialect Kubernetes accepts for a CRD: a structural
 * schema (every node typed, no `$ref`, no `additionalProperties: false`, quantities as int-or-string), generated
 * from the zod schema so the CRD and the CLI can never disagree about the format.
 *
 * Strictness lives elsewhere in the CRD world: the API server prunes unknown fields and `kubectl apply` rejects them
 * with server-side field validation, and the checks a schema cannot express (limit ≥ request, duplicate names,
 * path rules) run in the zod schema, which the bridge and the validating webhook apply.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { evaluationJobSchema } from './evaluation-job-schema.js';

/** A JSON value. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
/** A JSON object, such as a schema node. */
export type JsonObject = { [key: string]: JsonValue };

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

// Rewrites zod's output, node by node, into what a structural schema allows.
function toStructural(node: JsonValue): JsonValue {
  if (Array.isArray(node)) return node.map(toStructural);
  if (!isObject(node)) return node;
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === '$schema') continue;
    if (key === '$ref' || key === '$defs' || key === 'definitions') {
      throw new Error(`internal: the EvaluationJob schema must be inlined, found ${key}`);
    }
    // Structural schemas forbid `additionalProperties: false`; the API server prunes unknown fields instead.
    if (key === 'additionalProperties' && value === false) continue;
    out[key] = toStructural(value);
  }
  if (out['x-kubernetes-int-or-string'] === true || out['x-kubernetes-preserve-unknown-fields'] === true) {
    // int-or-string, and a node that keeps whatever it is given, are the places a structural schema may omit `type`:
    // the union zod emits is implied (int-or-string) or checked by the zod schema (`spec.network`: a word or a map).
    delete out.anyOf;
    delete out.type;
  }
  return out;
}

// A CRD schema may only constrain metadata.name (and generateName); labels and annotations are the API server's.
function restrictMetadata(schema: JsonObject): void {
  const properties = schema.properties;
  if (!isObject(properties) || !isObject(properties.metadata)) return;
  const metadata = properties.metadata;
  const metadataProperties = isObject(metadata.properties) ? metadata.properties : {};
  const name = metadataProperties.name;
  properties.metadata = {
    type: 'object',
    ...(isObject(name) ? { properties: { name } } : {}),
  };
}

/**
 * A zod schema as an OpenAPI v3 structural schema, describing its input (what a manifest may hold), defaults
 * included, so `kubectl explain` documents every field.
 * @throws Error if the zod schema produces a construct a structural schema cannot hold (a bug, not bad input).
 */
export function structuralSchemaOf(schema: z.ZodType): JsonObject {
  const generated = z.toJSONSchema(schema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'throw',
    override: ({ zodSchema, jsonSchema }) => {
      // zod leaves out the default of a field whose input is transformed (its default is an output value); ours are
      // chosen to be valid inputs too, and the API server should apply the same defaults as the CLI.
      if (zodSchema instanceof z.ZodDefault && jsonSchema.default === undefined) {
        jsonSchema.default = zodSchema.def.defaultValue;
      }
    },
  }) as JsonValue;
  const structural = toStructural(generated);
  if (!isObject(structural)) throw new Error('internal: the schema is not an object schema');
  return structural;
}

/**
 * The OpenAPI v3 (structural) schema of an EvaluationJob manifest, for `spec.versions[].schema.openAPIV3Schema` of
 * the CRD. Describes the manifest as written (input), defaults included, so `kubectl explain` documents every field.
 * @throws Error if the zod schema ever produces a construct a structural schema cannot hold (a bug, not bad input).
 */
export function evaluationJobOpenApiSchema(): JsonObject {
  const structural = structuralSchemaOf(evaluationJobSchema);
  restrictMetadata(structural);
  return structural;
}

/** The schema as the committed `deploy/crd/evaluationjob.schema.json` holds it. */
export function evaluationJobOpenApiSchemaText(): string {
  return `${JSON.stringify(evaluationJobOpenApiSchema(), null, 2)}\n`;
}
