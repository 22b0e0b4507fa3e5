/**
 * What a batch workflow is started with besides its input — its search attributes and the Web UI's static summary
 * and details (docs/web-ui.md) — shared by the client and the scheduled run, which starts batches as children.
 */
import { batchStorageKeys } from './evaluation-batch-run.js';
import type { ParsedBatch } from './evaluation-batch.js';
import type { EvaluationBatch } from './evaluation-batch-schema.js';
import { searchAttributeKeys } from './search-attribute-keys.js';

/** The Web UI's summary of a batch and its details. */
export function batchDecoration(parsed: ParsedBatch): { staticSummary: string; staticDetails: string } {
  const spec = parsed.batch.spec;
  const template = spec.template.spec as { team?: unknown; user?: unknown; image?: unknown };
  const shape =
    spec.matrix !== undefined
      ? Object.entries(spec.matrix)
          .map(([k, v]) => `${k}×${v.length}`)
          .join(' ')
      : `${spec.entries?.length ?? 0} entries`;
  return {
    staticSummary: `batch ${parsed.batchId}: ${parsed.size} evaluations (${shape}) of ${String(template.image)}`,
    staticDetails: [
      `**Batch** \`${parsed.batchId}\`: ${parsed.size} evaluations, ids \`${parsed.batchId}-<index>\``,
      `**Matrix:** ${shape}`,
      `**Team / user:** ${String(template.team)} / ${String(template.user)}`,
      `**Window:** ${spec.maxConcurrent} at once${spec.failFast ? ', fail-fast' : ''}` +
        `${spec.retryFailed > 0 ? `, failed entries re-run up to ${spec.retryFailed} times` : ''}`,
      `**Summary:** \`${batchStorageKeys.summaryJson(parsed.batchId)}\`, \`${batchStorageKeys.summaryCsv(parsed.batchId)}\``,
    ].join('\n\n'),
  };
}

/** The search attributes a batch starts with: `AssayBatch`, the template's team and user, the schedule. */
export function batchStartAttributes(batch: EvaluationBatch, batchId: string, schedule: string | null) {
  const template = batch.spec.template.spec as { team?: unknown; user?: unknown };
  const literal = (v: unknown): v is string => typeof v === 'string' && !v.includes('${{');
  return [
    { key: searchAttributeKeys.batch, value: batchId },
    ...(literal(template.team) ? [{ key: searchAttributeKeys.team, value: template.team }] : []),
    ...(literal(template.user) ? [{ key: searchAttributeKeys.user, value: template.user }] : []),
    ...(schedule !== null ? [{ key: searchAttributeKeys.schedule, value: schedule }] : []),
  ];
}
