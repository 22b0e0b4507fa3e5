/**
 * The janitor's sweep of the object store (docs/kubernetes.md, "The janitor"): multipart uploads under
 * `evaluations/` that no live evaluation owns. A log capture or an artifact upload that dies with its worker — or whose
 * workflow is terminated from outside — leaves its upload open, and the parts it sent are stored (and paid for) until
 * someone aborts it; bucket lifecycle rules do it where the store supports them (the local stack's versitygw does
 * not), this does it everywhere.
 *
 * The owner of an upload is the evaluation its key names (`evaluations/<id>/…`, `src/spec/storage-keys.ts`). An upload
 * is aborted (kind `multipart-upload`) when it was initiated at least `minAgeSeconds` ago and its evaluation's
 * workflow is closed or does not exist; an upload whose store does not say when it was initiated is left alone. Each
 * abort is logged and counted like the cluster sweep's fixes; `dryRun` reports and counts without aborting.
 *
 * @packageDocumentation
 */
import { evaluationIdOfKey, evaluationsRoot } from '../spec/storage-keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { janitorFixCounter, type SweepDeps, type WorkflowState } from './sweep.js';

export interface UploadSweepOptions {
  readonly dryRun: boolean;
  /** Uploads initiated less than this long ago are left alone (default 300 s). */
  readonly minAgeSeconds?: number;
  /** Only uploads under this prefix (tests); must lie under `evaluations/`. Default `evaluations/`. */
  readonly prefix?: string;
}

export interface UploadSweepDeps {
  readonly store: Pick<ObjectStore, 'listMultipartUploads' | 'abortMultipart'>;
  workflowState(evaluationId: string): Promise<WorkflowState>;
  readonly log: SweepDeps['log'];
  readonly now?: () => Date;
  readonly signal?: AbortSignal;
}

/** One upload aborted (or, in a dry run, that would be). */
export interface UploadFix {
  readonly kind: 'multipart-upload';
  readonly key: string;
  readonly uploadId: string;
  readonly initiated: string;
  readonly evaluationId: string;
  /** Temporal's status name of the owner's workflow, or `missing`. */
  readonly workflow: string;
}

export interface UploadSweepReport {
  readonly dryRun: boolean;
  /** Uploads listed under the prefix, whatever became of them. */
  readonly listed: number;
  readonly fixes: UploadFix[];
  /** Aborts that failed (tried again by the next sweep). */
  readonly errors: string[];
}

/**
 * @throws Error when `prefix` lies outside `evaluations/`; the store's error when the uploads cannot be listed (one
 *   abort that fails is reported in `errors` instead).
 */
export async function sweepUploads(
  options: UploadSweepOptions,
  deps: UploadSweepDeps,
): Promise<UploadSweepReport> {
  const prefix = options.prefix ?? evaluationsRoot;
  if (!prefix.startsWith(evaluationsRoot)) {
    throw new Error(`prefix: ${JSON.stringify(prefix)} is not under ${evaluationsRoot}`);
  }
  const now = (deps.now ?? (() => new Date()))().getTime();
  const minAgeMs = (options.minAgeSeconds ?? 300) * 1000;
  const mode = options.dryRun ? 'dry-run' : 'fixed';
  const counter = janitorFixCounter();
  const states = new Map<string, Promise<WorkflowState>>();
  const fixes: UploadFix[] = [];
  const errors: string[] = [];
  let listed = 0;
  const signal = deps.signal !== undefined ? { signal: deps.signal } : {};

  for await (const upload of deps.store.listMultipartUploads(prefix, signal)) {
    listed++;
    const evaluationId = evaluationIdOfKey(upload.key);
    const initiated = upload.initiated;
    if (evaluationId === null || initiated === undefined || now - initiated.getTime() < minAgeMs) continue;
    let state = states.get(evaluationId);
    if (state === undefined) {
      state = deps.workflowState(evaluationId);
      states.set(evaluationId, state);
    }
    const owner = await state;
    if (owner.state === 'running') continue;
    const fix: UploadFix = {
      kind: 'multipart-upload',
      key: upload.key,
      uploadId: upload.uploadId,
      initiated: initiated.toISOString(),
      evaluationId,
      workflow: owner.state === 'missing' ? 'missing' : owner.status,
    };
    try {
      // An upload completed or aborted meanwhile counts as aborted (abortMultipart treats it so).
      if (!options.dryRun) await deps.store.abortMultipart(upload.key, upload.uploadId, signal);
    } catch (err) {
      const message = `multipart-upload ${upload.key} (${upload.uploadId}): ${err instanceof Error ? err.message : String(err)}`;
      errors.push(message);
      deps.log.warn('janitor fix failed', { ...fix, error: message });
      continue;
    }
    fixes.push(fix);
    counter.inc({ kind: fix.kind, mode });
    deps.log.info(options.dryRun ? `janitor (dry run) would fix ${fix.kind}` : `janitor fixed ${fix.kind}`, {
      ...fix,
    });
  }
  return { dryRun: options.dryRun, listed, fixes, errors };
}
