/**
 * `assay.dev/v1alpha1`, the older, deprecated shape of an EvaluationJob (docs/kubernetes.md, "Versions"). It is `v1`
 * with the fields of `spec.resources` — `cpu`, `memory`, `ephemeralStorage`, `gpu`, `limits` — directly on `spec`.
 * Nothing else differs, so the conversion is exact both ways: these functions are what the conversion webhook and
 * the CRD's v1alpha1 schema are built from.
 *
 * @packageDocumentation
 */

/** The v1 API version and the deprecated one. */
export const evaluationJobGroup = 'assay.dev';
export const evaluationJobV1 = `${evaluationJobGroup}/v1`;
export const evaluationJobV1alpha1 = `${evaluationJobGroup}/v1alpha1`;

/** The fields of v1's `spec.resources` that v1alpha1 has directly on `spec`, in v1's order. */
export const v1alpha1ResourceFields = ['cpu', 'memory', 'ephemeralStorage', 'gpu', 'limits'] as const;

type JsonMap = { [key: string]: unknown };

function isMap(value: unknown): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * A v1 `spec` in the v1alpha1 shape: the fields of `resources` lifted onto `spec`, the other fields as they are. A
 * value that is not a map is returned as it is (the schema refuses it, not the conversion).
 */
export function specToV1alpha1(spec: unknown): unknown {
  if (!isMap(spec)) return spec;
  const out: JsonMap = {};
  for (const [key, value] of Object.entries(spec)) {
    if (key !== 'resources') out[key] = value;
    else if (isMap(value)) {
      for (const field of v1alpha1ResourceFields) if (field in value) out[field] = value[field];
    }
  }
  return out;
}

/** A v1alpha1 `spec` in the v1 shape: the resource fields gathered under `resources` (absent when there are none). */
export function specFromV1alpha1(spec: unknown): unknown {
  if (!isMap(spec)) return spec;
  const out: JsonMap = {};
  const resources: JsonMap = {};
  for (const [key, value] of Object.entries(spec)) {
    if ((v1alpha1ResourceFields as readonly string[]).includes(key)) resources[key] = value;
    else out[key] = value;
  }
  if (Object.keys(resources).length > 0) out.resources = resources;
  return out;
}
