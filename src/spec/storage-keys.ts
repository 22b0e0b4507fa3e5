/**
 * The object storage layout: every object of an evaluation lives under `evaluations/<id>/`, so deleting an evaluation
 * is deleting one prefix.
 */

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
