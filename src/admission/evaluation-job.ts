/**
 * The validating and mutating webhooks of EvaluationJobs (docs/kubernetes.md, "Admission"). Both work on the `v1`
 * shape (a `v1alpha1` object is converted first and patched back in its own shape), with the zod schema of
 * `assay run -f`, so `kubectl apply` and the CLI accept and refuse the same manifests.
 *
 * - **mutate**: fills `spec.team` from the namespace's `assay.dev/team` label and `spec.user` from the authenticated
 *   user (on an update, from the stored object), the team's default priority, timeout and cost labels where the
 *   manifest has none (`./team-defaults.ts`), then patches the spec to its normalised form (defaults filled in,
 *   quantities canonical), so the stored spec is what will run. An invalid spec gets only team, user and the team's
 *   defaults; the validating webhook says what is wrong.
 * - **validate**: on create, the namespace must map to a team and `spec.team` must be that team; every zod issue
 *   is a `status.details.causes[]` entry with its field path. On update the spec must not change: an evaluation is
 *   started from the spec it was created with.
 *
 * @packageDocumentation
 */
import { parseEvaluationJob, type ParseResult } from '../spec/evaluation-job.js';
import type { EvaluationJob } from '../spec/evaluation-job-schema.js';
import {
  evaluationJobGroup,
  evaluationJobV1,
  evaluationJobV1alpha1,
  specFromV1alpha1,
  specToV1alpha1,
} from '../spec/evaluation-job-v1alpha1.js';
import { teamDefaultedSpecFields } from '../spec/crd.js';
import { formatSpecIssue } from '../spec/issues.js';
import { namespaceTeamLabel, type NamespaceTeams } from './teams.js';
import { noTeamDefaults, teamDefaultsOf, type TeamDefaultsConfig } from './team-defaults.js';
import { userLabelFor } from './user-name.js';
import {
  canonicalJson,
  isMap,
  type AdmissionDecision,
  type AdmissionRequest,
  type JsonPatchOperation,
  type KubeObject,
  type StatusCause,
} from './review.js';

/** kubectl's copy of the applied manifest: tooling, not part of the evaluation. */
const lastAppliedAnnotation = 'kubectl.kubernetes.io/last-applied-configuration';

const allowed: AdmissionDecision = { allowed: true };

function isAlpha(object: KubeObject): boolean {
  return object.apiVersion === evaluationJobV1alpha1;
}

/** The object's spec in the v1 shape, as a map (empty when missing or not a map). */
function v1Spec(object: KubeObject): KubeObject {
  const spec = isAlpha(object) ? specFromV1alpha1(object.spec) : object.spec;
  return isMap(spec) ? spec : {};
}

/** The manifest `assay run -f` would take for this resource: metadata the API server owns left out. */
function manifestOf(object: KubeObject, spec: KubeObject): unknown {
  const metadata = isMap(object.metadata) ? object.metadata : {};
  const annotations = isMap(metadata.annotations)
    ? Object.fromEntries(
        Object.entries(metadata.annotations).filter(([key]) => key !== lastAppliedAnnotation),
      )
    : {};
  return {
    apiVersion: isAlpha(object) ? evaluationJobV1 : object.apiVersion,
    kind: object.kind,
    metadata: {
      ...(typeof metadata.name === 'string' && metadata.name !== '' ? { name: metadata.name } : {}),
      ...(typeof metadata.namespace === 'string' ? { namespace: metadata.namespace } : {}),
      ...(isMap(metadata.labels) ? { labels: metadata.labels } : {}),
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
    },
    spec,
  };
}

function parse(object: KubeObject, spec: KubeObject = v1Spec(object)): ParseResult<EvaluationJob> {
  return parseEvaluationJob(manifestOf(object, spec));
}

/** A v1 field path as the user wrote it: in v1alpha1 the resource fields are directly on `spec`. */
function fieldPath(path: string, alpha: boolean): string {
  return alpha && path.startsWith('spec.resources.') ? `spec.${path.slice('spec.resources.'.length)}` : path;
}

function nameOf(request: AdmissionRequest, object: KubeObject): string | undefined {
  const metadata = isMap(object.metadata) ? object.metadata : {};
  return typeof metadata.name === 'string' && metadata.name !== '' ? metadata.name : request.name;
}

function describe(request: AdmissionRequest, object: KubeObject): string {
  const name = nameOf(request, object);
  return name ? `EvaluationJob "${name}"` : 'EvaluationJob';
}

function unavailable(what: string, err: unknown): AdmissionDecision {
  const message = err instanceof Error ? err.message : String(err);
  return {
    allowed: false,
    refusal: { code: 503, reason: 'ServiceUnavailable', message: `${what}: ${message}` },
  };
}

/** A JSON Pointer token (RFC 6901): `~` and `/` escaped. */
function pointerToken(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/**
 * The patch turning `before` (the object's `spec`, or anything) into `after`, one operation per top-level field: an
 * absent field is added, a changed one replaced (normalised), one the result drops removed; the rest is untouched.
 */
function specPatch(before: unknown, after: KubeObject): JsonPatchOperation[] {
  if (!isMap(before)) return [{ op: 'add', path: '/spec', value: after }];
  const ops: JsonPatchOperation[] = [];
  for (const [key, value] of Object.entries(after)) {
    const path = `/spec/${pointerToken(key)}`;
    if (!(key in before)) ops.push({ op: 'add', path, value });
    else if (canonicalJson(value) !== canonicalJson(before[key])) ops.push({ op: 'replace', path, value });
  }
  for (const key of Object.keys(before)) {
    if (!(key in after)) ops.push({ op: 'remove', path: `/spec/${pointerToken(key)}` });
  }
  return ops;
}

/** Adds the labels `defaults` has and `metadata.labels` lacks: one `add` per label, never a replaced value. */
function labelPatch(
  object: KubeObject,
  defaults: Readonly<Record<string, string>>,
): { ops: JsonPatchOperation[]; added: Record<string, string> } {
  const metadata = isMap(object.metadata) ? object.metadata : {};
  const labels = isMap(metadata.labels) ? metadata.labels : undefined;
  const added = Object.fromEntries(
    Object.entries(defaults).filter(([key]) => labels === undefined || !(key in labels)),
  );
  if (Object.keys(added).length === 0) return { ops: [], added };
  if (!isMap(object.metadata))
    return { ops: [{ op: 'add', path: '/metadata', value: { labels: added } }], added };
  if (labels === undefined) return { ops: [{ op: 'add', path: '/metadata/labels', value: added }], added };
  return {
    ops: Object.entries(added).map(([key, value]) => ({
      op: 'add' as const,
      path: `/metadata/labels/${pointerToken(key)}`,
      value,
    })),
    added,
  };
}

/**
 * The mutating webhook (`/mutate`). Its JSON patch only adds what is absent — `spec.team`, `spec.user`, the team's
 * default priority and timeout, its cost labels — and replaces a present field only with its normalised form (the
 * same value, canonically spelt), so a value the manifest sets is never overridden.
 */
export async function mutateEvaluationJob(
  request: AdmissionRequest,
  teams: NamespaceTeams,
  teamDefaults: TeamDefaultsConfig = noTeamDefaults,
): Promise<AdmissionDecision> {
  const object = request.object;
  if (!isMap(object) || (request.operation !== 'CREATE' && request.operation !== 'UPDATE')) return allowed;
  const spec: KubeObject = { ...v1Spec(object) };
  const old = isMap(request.oldObject) ? v1Spec(request.oldObject) : undefined;
  const warnings: string[] = [];

  if (spec.team === undefined) {
    if (typeof old?.team === 'string') spec.team = old.team;
    else if (request.namespace !== undefined) {
      let mapping;
      try {
        mapping = await teams.teamOf(request.namespace);
      } catch (err) {
        return unavailable(`cannot read namespace ${request.namespace} to default spec.team`, err);
      }
      if (mapping.kind === 'team') {
        spec.team = mapping.team;
        warnings.push(
          `spec.team defaulted to "${mapping.team}", the ${namespaceTeamLabel} label of namespace ${request.namespace}`,
        );
      }
    }
  }
  if (spec.user === undefined) {
    const user = typeof old?.user === 'string' ? old.user : userLabelFor(request.userInfo.username);
    if (user !== undefined) {
      spec.user = user;
      if (old === undefined) warnings.push(`spec.user defaulted to "${user}", the authenticated user`);
    }
  }

  // Team defaults on create (the CRD publishes no schema default for these fields, so they arrive absent); an update
  // keeps what the object was created with (the spec is immutable).
  let labels: { ops: JsonPatchOperation[]; added: Record<string, string> } = { ops: [], added: {} };
  if (old !== undefined) {
    for (const field of teamDefaultedSpecFields) {
      if (spec[field] === undefined && old[field] !== undefined) spec[field] = old[field];
    }
  } else if (request.operation === 'CREATE' && typeof spec.team === 'string') {
    const defaults = teamDefaultsOf(teamDefaults, spec.team);
    for (const field of teamDefaultedSpecFields) {
      const value = defaults[field];
      if (spec[field] !== undefined || value === undefined) continue;
      spec[field] = value;
      warnings.push(`spec.${field} defaulted to ${JSON.stringify(value)}, the default of team ${spec.team}`);
    }
    labels = labelPatch(object, defaults.labels);
    for (const [key, value] of Object.entries(labels.added)) {
      warnings.push(`metadata.labels.${key} defaulted to "${value}", the default of team ${spec.team}`);
    }
  }

  const metadata = isMap(object.metadata) ? object.metadata : {};
  const withLabels: KubeObject =
    Object.keys(labels.added).length === 0
      ? object
      : {
          ...object,
          metadata: {
            ...metadata,
            labels: { ...(isMap(metadata.labels) ? metadata.labels : {}), ...labels.added },
          },
        };
  const parsed = parse(withLabels, spec);
  const v1Result = parsed.ok ? (parsed.value.spec as KubeObject) : spec;
  const result = isAlpha(object) ? (specToV1alpha1(v1Result) as KubeObject) : v1Result;
  const patch = [...labels.ops, ...specPatch(object.spec, result)];
  if (patch.length === 0) return allowed;
  return { allowed: true, patch, warnings };
}

/** The validating webhook (`/validate`). */
export async function validateEvaluationJob(
  request: AdmissionRequest,
  teams: NamespaceTeams,
): Promise<AdmissionDecision> {
  const object = request.object;
  if (!isMap(object)) return allowed;
  if (request.operation === 'CREATE') return validateCreate(request, object, teams);
  if (request.operation === 'UPDATE' && isMap(request.oldObject)) {
    return validateUpdate(request, object, request.oldObject);
  }
  return allowed;
}

async function validateCreate(
  request: AdmissionRequest,
  object: KubeObject,
  teams: NamespaceTeams,
): Promise<AdmissionDecision> {
  const what = describe(request, object);
  const namespace = request.namespace;
  if (namespace === undefined || namespace === '') {
    return refuse(400, 'BadRequest', `${what}: an EvaluationJob must be created in a namespace`);
  }
  let mapping;
  try {
    mapping = await teams.teamOf(namespace);
  } catch (err) {
    return unavailable(`cannot read namespace ${namespace} to find its team`, err);
  }
  if (mapping.kind !== 'team') {
    return refuse(
      403,
      'Forbidden',
      `${what}: namespace ${namespace} is not mapped to a team: label it with ${namespaceTeamLabel}=<team> ` +
        `(kubectl label namespace ${namespace} ${namespaceTeamLabel}=<team>)`,
    );
  }
  const spec = v1Spec(object);
  if (spec.team !== undefined && spec.team !== mapping.team) {
    const message = `${JSON.stringify(spec.team)} is not the team of namespace ${namespace} (${namespaceTeamLabel}=${mapping.team})`;
    return refuse(
      403,
      'Forbidden',
      `${what}: spec.team: ${message}`,
      [{ type: 'FieldValueForbidden', field: 'spec.team', message }],
      nameOf(request, object),
    );
  }
  const parsed = parse(object);
  if (parsed.ok) return allowed;
  const alpha = isAlpha(object);
  const issues = parsed.issues.map((issue) => ({ ...issue, path: fieldPath(issue.path, alpha) }));
  return refuse(
    422,
    'Invalid',
    `${what} is invalid: ${issues.map(formatSpecIssue).join('; ')}`,
    issues.map((issue) => ({
      type: 'FieldValueInvalid',
      message: issue.message,
      ...(issue.path === '' ? {} : { field: issue.path }),
    })),
    nameOf(request, object),
  );
}

function validateUpdate(
  request: AdmissionRequest,
  object: KubeObject,
  oldObject: KubeObject,
): AdmissionDecision {
  // Normalised when both parse, so `cpu: 1` → `cpu: "1"` or a re-applied default is no change.
  const comparable = (o: KubeObject): KubeObject => {
    const parsed = parse(o);
    return parsed.ok ? parsed.value.spec : v1Spec(o);
  };
  const before = comparable(oldObject);
  const after = comparable(object);
  const changed = [...new Set([...Object.keys(before), ...Object.keys(after)])]
    .filter((key) => canonicalJson(before[key]) !== canonicalJson(after[key]))
    .sort();
  if (changed.length === 0) return allowed;
  const alpha = isAlpha(object);
  const fields = changed.map((key) =>
    alpha && key === 'resources' ? 'spec (resource fields)' : `spec.${key}`,
  );
  return refuse(
    422,
    'Invalid',
    `${describe(request, object)}: the spec is immutable once created (changed: ${fields.join(', ')}); ` +
      'delete the resource and create a new one to run something else',
    fields.map((field) => ({
      type: 'FieldValueForbidden',
      field,
      message: 'is immutable once created: delete the EvaluationJob and create a new one to change it',
    })),
    nameOf(request, object),
  );
}

function refuse(
  code: number,
  reason: string,
  message: string,
  causes?: StatusCause[],
  name?: string,
): AdmissionDecision {
  const subject = { group: evaluationJobGroup, kind: 'EvaluationJob', ...(name ? { name } : {}) };
  return { allowed: false, refusal: { code, reason, message, subject, ...(causes ? { causes } : {}) } };
}
