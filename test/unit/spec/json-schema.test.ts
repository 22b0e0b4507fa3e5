import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import {
  evaluationJobOpenApiSchema,
  specDefaults,
  type JsonObject,
  type JsonValue,
} from '../../../src/spec/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const committedPath = new URL('../../../deploy/crd/evaluationjob.schema.json', import.meta.url);

/**
 * The schema file as committed — what a CRD is built from. The shape tests below read this file, not the generator's
 * in-memory object, so they check what is shipped.
 */
function committedSchema(): JsonObject {
  const parsed = JSON.parse(readFileSync(committedPath, 'utf8')) as JsonValue;
  if (!isObject(parsed)) throw new Error(`${committedPath.pathname} does not hold a JSON object`);
  return parsed;
}

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Every schema node with its JSON path, for rules that apply everywhere. */
function nodes(schema: JsonObject, path = '$'): [string, JsonObject][] {
  const out: [string, JsonObject][] = [[path, schema]];
  const properties = schema.properties;
  if (isObject(properties)) {
    for (const [key, child] of Object.entries(properties))
      if (isObject(child)) out.push(...nodes(child, `${path}.${key}`));
  }
  if (isObject(schema.items)) out.push(...nodes(schema.items, `${path}[]`));
  if (isObject(schema.additionalProperties)) out.push(...nodes(schema.additionalProperties, `${path}{}`));
  return out;
}

function at(schema: JsonObject, ...keys: string[]): JsonObject {
  let node: JsonObject = schema;
  for (const key of keys) {
    const properties = node.properties;
    const next = isObject(properties) ? properties[key] : undefined;
    if (!isObject(next)) throw new Error(`no property ${keys.join('.')}`);
    node = next;
  }
  return node;
}

describe('EvaluationJob JSON schema', () => {
  it('is committed up to date in deploy/crd/evaluationjob.schema.json', () => {
    const committed: unknown = JSON.parse(readFileSync(committedPath, 'utf8'));
    // Compared as data so formatting (Prettier) does not matter. If this fails, regenerate with:
    //   npm run --silent schema > deploy/crd/evaluationjob.schema.json && npx prettier --write deploy/crd
    expect(committed).toEqual(evaluationJobOpenApiSchema());
  });

  it('is what `npm run schema` prints: the export script output parses to the committed file', () => {
    // The command the regeneration instructions name, run as a user runs it (tsx, as `npm run schema` does).
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'src/spec/export-json-schema.ts'], {
      cwd: root,
      encoding: 'utf8',
      timeout: 60_000,
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual(committedSchema());
  }, 60_000);

  it('is a structural schema Kubernetes accepts for a CRD', () => {
    const schema = committedSchema();
    const text = JSON.stringify(schema);
    expect(text).not.toContain('"$ref"');
    expect(text).not.toContain('"$defs"');
    expect(text).not.toContain('"$schema"');
    for (const [path, node] of nodes(schema)) {
      // Every node is typed, except int-or-string and preserve-unknown-fields, the exceptions structural schemas allow.
      if (node['x-kubernetes-int-or-string'] === true || node['x-kubernetes-preserve-unknown-fields'] === true) {
        expect([path, node.type, node.anyOf]).toEqual([path, undefined, undefined]);
      } else {
        expect([path, typeof node.type]).toEqual([path, 'string']);
      }
      expect([path, node.additionalProperties]).not.toEqual([path, false]);
      // Inside oneOf/anyOf only value constraints are allowed: no types, no descriptions.
      for (const branch of [node.oneOf, node.anyOf].flat()) {
        if (isObject(branch)) expect([path, Object.keys(branch)]).toEqual([path, ['required']]);
      }
    }
  });

  it('constrains only metadata.name inside metadata', () => {
    const metadata = at(committedSchema(), 'metadata');
    expect(Object.keys(metadata.properties as JsonObject)).toEqual(['name']);
    expect(at(metadata, 'name')).toMatchObject({ type: 'string', maxLength: 54 });
  });

  it('describes quantities as int-or-string with the Kubernetes pattern', () => {
    const memory = at(committedSchema(), 'spec', 'resources', 'memory');
    expect(memory).toMatchObject({ 'x-kubernetes-int-or-string': true, pattern: expect.any(String) });
    expect(new RegExp(memory.pattern as string).test('1.5Gi')).toBe(true);
    expect(new RegExp(memory.pattern as string).test('12 parsecs')).toBe(false);
  });

  it('publishes the same defaults and bounds as the parser', () => {
    const spec = at(committedSchema(), 'spec');
    expect(at(spec, 'timeoutSeconds')).toMatchObject({
      default: specDefaults.timeoutSeconds,
      maximum: 604800,
    });
    expect(at(spec, 'priority')).toMatchObject({ default: 'normal', enum: ['low', 'normal', 'high'] });
    expect(at(spec, 'retries', 'maxAttempts')).toMatchObject({ default: 3, minimum: 1, maximum: 10 });
    expect(at(spec, 'retentionDays')).toMatchObject({ default: 30 });
    expect(at(spec, 'result', 'maxBytes')).toMatchObject({ default: specDefaults.resultMaxBytes });
    expect(at(spec, 'env')).toMatchObject({ maxItems: 100, 'x-kubernetes-list-map-keys': ['name'] });
    expect(spec.required).toEqual(['team', 'user', 'image']);
    // Requests fall back to limits, so the API server must not default them.
    expect(at(spec, 'resources', 'memory').default).toBeUndefined();
  });

  it('requires exactly one of value and secretRef for an env var, and has no secret value field', () => {
    const envVar = at(committedSchema(), 'spec', 'env');
    const item = envVar.items as JsonObject;
    expect(item.oneOf).toEqual([{ required: ['value'] }, { required: ['secretRef'] }]);
    expect(Object.keys(at(item, 'secretRef').properties as JsonObject)).toEqual(['name', 'key']);
  });
});
