/**
 * Evaluation metrics of the worker (docs/quota.md, "Metrics"), all observed outside workflow code: durations, queue
 * time and attempts from every record this worker writes; evaluations by phase from Temporal visibility at scrape time
 * (cached, so frequent scrapes stay cheap); bytes the log captures store and Kubernetes API errors, through hooks
 * handed to the activities that see them (`./run.ts`). Outcome counts are `assay_evaluations_total` in
 * `./quota-metrics.ts`.
 */
import type { Client } from '@temporalio/client';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { evaluationWorkflowType } from '../spec/names.js';
import type { EvaluationOutput, Phase } from '../spec/record.js';
import { assaySearchAttributeTable } from '../spec/search-attributes.js';
import type { CapturedFile } from '../logs/capture.js';

export interface EvaluationMetrics {
  /** Duration, queue time and attempts of a written record. */
  observeRecord(record: EvaluationOutput): void;
  /** Bytes a log capture stored (a part or a whole file). */
  captureBytes(file: CapturedFile, bytes: number): void;
  /** A failed Kubernetes API call on `cluster`: its HTTP status, or `network`. */
  kubeApiError(cluster: string, code: string): void;
}

/**
 * The phases the `AssayPhase` search attribute takes (the workflow upserts only these; the phases between keep the
 * last one listed: `SelectingCluster` counts as `Validating`, `CreatingJob` as `Queued`, `CleaningUp` as `Running`).
 */
export const listedPhases = [
  'Validating',
  'Queued',
  'Running',
  'BackingOff',
  'Completed',
] as const satisfies Phase[];
export type ListedPhase = (typeof listedPhases)[number];

/** How long one read of the phase counts serves scrapes. */
export const phaseCountsTtlMs = 10_000;

/**
 * Running evaluation workflows of `taskQueue` per listed phase: one visibility count per phase (Temporal's count API
 * groups by `ExecutionStatus` only, so `GROUP BY AssayPhase` is refused).
 */
export async function phaseCounts(
  temporal: Pick<Client, 'workflow'>,
  taskQueue: string,
): Promise<Record<ListedPhase, number>> {
  const attribute = assaySearchAttributeTable.phase.name;
  const counts = await Promise.all(
    listedPhases.map(async (phase) => {
      const query =
        `WorkflowType = '${evaluationWorkflowType}' AND ExecutionStatus = 'Running' AND ` +
        `TaskQueue = '${taskQueue.replaceAll("'", "\\'")}' AND ${attribute} = '${phase}'`;
      return [phase, (await temporal.workflow.count(query)).count] as const;
    }),
  );
  return Object.fromEntries(counts) as Record<ListedPhase, number>;
}

const seconds = (from: string | null | undefined, to: string | null | undefined): number | null => {
  if (from == null || to == null) return null;
  const s = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(s) && s >= 0 ? s : null;
};

export function registerEvaluationMetrics(
  registry: Registry,
  options: { readonly phases?: () => Promise<Record<ListedPhase, number>>; readonly now?: () => number } = {},
): EvaluationMetrics {
  const now = options.now ?? Date.now;
  const duration = new Histogram({
    name: 'assay_evaluation_duration_seconds',
    help: 'Time from submission to the end of an evaluation (its record written by this worker)',
    labelNames: ['team', 'outcome'],
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14_400, 43_200, 86_400],
    registers: [registry],
  });
  const queue = new Histogram({
    name: 'assay_evaluation_queue_seconds',
    help: "Time from submission to the start of an evaluation's first attempt",
    labelNames: ['team'],
    buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 3600, 14_400],
    registers: [registry],
  });
  const attempts = new Counter({
    name: 'assay_attempts_total',
    help: 'Attempts of finished evaluations by how they ended (unknown: never classified)',
    labelNames: ['kind'],
    registers: [registry],
  });
  const captured = new Counter({
    name: 'assay_log_capture_bytes_total',
    help: 'Bytes the log captures stored, by file (stdout, stderr, combined, events)',
    labelNames: ['stream'],
    registers: [registry],
  });
  const kubeErrors = new Counter({
    name: 'assay_kube_api_errors_total',
    help: 'Failed Kubernetes API calls by cluster and HTTP status (network: no answer)',
    labelNames: ['cluster', 'code'],
    registers: [registry],
  });
  const phases = options.phases;
  if (phases !== undefined) {
    let cached: { at: number; counts: Promise<Record<ListedPhase, number> | null> } | null = null;
    new Gauge({
      name: 'assay_evaluations_in_phase',
      help: 'Running evaluations of this task queue by the phase Temporal visibility lists (read every 10 s at most)',
      labelNames: ['phase'],
      registers: [registry],
      async collect() {
        if (cached === null || now() - cached.at >= phaseCountsTtlMs)
          cached = { at: now(), counts: phases().catch(() => null) };
        const counts = await cached.counts;
        this.reset();
        if (counts === null) return;
        for (const phase of listedPhases) this.set({ phase }, counts[phase]);
      },
    });
  }
  return {
    observeRecord(record) {
      const total = seconds(record.timings.submittedAt, record.timings.finishedAt);
      if (total !== null) duration.observe({ team: record.team, outcome: record.outcome }, total);
      const waited = seconds(record.timings.submittedAt, record.timings.startedAt);
      if (waited !== null) queue.observe({ team: record.team }, waited);
      for (const a of record.attempts) attempts.inc({ kind: a.kind ?? 'unknown' });
    },
    captureBytes(file, bytes) {
      if (bytes > 0) captured.inc({ stream: file }, bytes);
    },
    kubeApiError(cluster, code) {
      kubeErrors.inc({ cluster, code });
    },
  };
}
