/**
 * How refused artifacts show in the outcome. Pure and dependency-free: the evaluation workflow calls it.
 */
import type { ArtifactsSummary, Outcome } from '../spec/record.js';

/** The reason an evaluation that exited 0 is Failed because its pod tried to export something it may not. */
export const artifactViolationReason = 'ArtifactViolation';

/** True when a violation is more than a link inside the directory that was not followed. */
export function hostileViolations(summary: ArtifactsSummary | null | undefined): number {
  if (summary === null || summary === undefined) return 0;
  const listed = summary.violations.filter((v) => v.kind !== 'link').length;
  const unlisted = summary.violationCount - summary.violations.length;
  return listed + Math.max(0, unlisted);
}

/**
 * The outcome once the artifacts are known: a Succeeded evaluation whose pod wrote what may not leave it (links out,
 * `..`, devices, more than its limits, an invalid result) is Failed with reason `ArtifactViolation`; any other
 * outcome keeps its reason and its message says how many entries were refused.
 */
export function withArtifactViolations(
  current: { outcome: Outcome; reason: string | null; message: string | null },
  summary: ArtifactsSummary | null | undefined,
): { outcome: Outcome; reason: string | null; message: string | null } {
  const count = hostileViolations(summary);
  if (count === 0 || summary === null || summary === undefined) return current;
  const kinds = [...new Set(summary.violations.filter((v) => v.kind !== 'link').map((v) => v.kind))].join(
    ', ',
  );
  const note = `${count} result/artifact entr${count === 1 ? 'y' : 'ies'} refused (${kinds}); see artifactsSummary.violations`;
  if (current.outcome === 'Succeeded') {
    return { outcome: 'Failed', reason: artifactViolationReason, message: note };
  }
  return { ...current, message: current.message === null ? note : `${current.message}; ${note}` };
}
