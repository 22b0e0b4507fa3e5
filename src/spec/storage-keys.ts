/**
 * The object storage layout: every object of an evaluation lives under `evaluations/<id>/`, so deleting an evaluation
 * is deleting one prefix.
 */

import { evaluationIdSchema } from './names.js';

/** Where every evaluation's objects live: `evaluations/<id>/…`. */
export const evaluationsRoot = 'evaluations/';

/** The evaluation an object key belongs to (`evaluations/<id>/…`), or null for a key outside that layout. */
export function evaluationIdOfKey(key: string): string | null {
  if (!key.startsWith(evaluationsRoot)) return null;
  const rest = key.slice(evaluationsRoot.length);
  const slash = rest.indexOf('/');
  if (slash <= 0) return null;
  const id = rest.slice(0, slash);
  return evaluationIdSchema.safeParse(id).success ? id : null;
}

/** Object keys of an evaluation's record, logs, result and artifacts. */
export const storageKeys = {
  record: (evaluationId: string): string => `evaluations/${evaluationId}/record.json`,
  attemptPrefix: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/`,
  stdout: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/stdout.log`,
  stderr: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/stderr.log`,
  result: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/result.json`,
  artifactsPrefix: (evaluationId: string): string => `evaluations/${evaluationId}/artifacts/`,
  /** The complete artifact manifest; beside `artifacts/`, so no artifact path can collide with it. */
  artifactsManifest: (evaluationId: string): string => `evaluations/${evaluationId}/artifacts.json`,
  /**
   * Pack `n` of small artifacts (their bytes back to back; the manifest gives each file's offset). Beside
   * `artifacts/`, so no artifact path can collide with it.
   */
  artifactPack: (evaluationId: string, n: number): string =>
    `evaluations/${evaluationId}/artifact-packs/${n}.pack`,
  evaluationPrefix: (evaluationId: string): string => `evaluations/${evaluationId}/`,
  events: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/events.ndjson`,
  /** Used only when the cluster cannot split the streams. */
  combined: (evaluationId: string, attempt: number): string =>
    `evaluations/${evaluationId}/attempts/${attempt}/combined.log`,
};
