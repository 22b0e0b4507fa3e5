/**
 * Result and artifact extraction (docs/architecture.md, "The evaluation workflow" steps 6–7, "Pod anatomy"): after `main` has
 * ended, `tar` runs in the collector sidecar through the API server (exec) and its stream is parsed and stored under
 * the evaluation's prefix; the result comes from the result file or the termination message and is stored as the
 * attempt's `result.json`. Only keys, sizes, digests and counts go back to the workflow; a large result or manifest
 * stays in object storage.
 */
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Context } from '@temporalio/activity';
import { startHeartbeat } from './heartbeat.js';
import { ApplicationFailure } from '@temporalio/common';
import { EntryPolicy } from '../artifacts/policy.js';
import { extractTar, type ExtractOutcome } from '../artifacts/extract.js';
import { orNullOn404, type KubeClients } from '../kube/clients.js';
import { execStream } from '../kube/exec-stream.js';
import { assayArtifactsDir } from '../spec/spec-constants.js';
import type { JobOutputs } from '../spec/job-request.js';
import type { ArtifactEntry, ArtifactViolation, ArtifactsSummary, ResultInfo } from '../spec/record.js';
import { storageKeys } from '../spec/storage-keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { collectorContainerName } from './job-manifest.js';
import type { AttemptRef } from './types.js';

/** `type` of the failure raised when the collector cannot be reached (its pod is gone or it is not running). */
export const collectorUnavailableType = 'CollectorUnavailable';
/** Results up to this size travel back in the record through history; larger ones only in object storage. */
export const inlineResultLimit = 64 * 1024;
/** Manifests up to this many entries travel back in the record; larger ones only in object storage. */
export const inlineManifestLimit = 500;

export interface CollectOutputsInput extends AttemptRef {
  readonly pod: string | null;
  readonly outputs: JobOutputs | null;
  /** The main container's termination message (≤ 4 KiB), the result when there is no result file. */
  readonly terminationMessage: string | null;
}

export interface CollectedOutputs {
  /** The result when small enough to inline, else null (see `resultInfo.inline`). */
  readonly result: unknown;
  readonly resultInfo: ResultInfo | null;
  /** The manifest when small enough to inline (see `artifactsSummary.complete`). */
  readonly artifacts: ArtifactEntry[];
  readonly artifactsSummary: ArtifactsSummary | null;
}

export interface OutputActivities {
  /**
   * Stores the attempt's result and, with a collector, its artifacts. Idempotent: a retry (after a worker crash)
   * writes the same objects again and aborts the unfinished uploads the crashed attempt left.
   *
   * @throws ApplicationFailure `CollectorUnavailable` (not retryable) when the collector is not running.
   */
  collectOutputs(input: CollectOutputsInput): Promise<CollectedOutputs>;
}

/** The stored form of the manifest (`evaluations/<id>/artifacts.json`). */
export interface StoredManifest {
  evaluationId: string;
  attempt: number;
  files: number;
  bytes: number;
  entries: ArtifactEntry[];
  violations: ArtifactViolation[];
  violationCount: number;
}

/** The tar stream of an attempt's output areas (`result/…`, `artifacts/…`) and how the reader that made it ended. */
export interface OutputTar {
  readonly stdout: Readable;
  /** Settles once the stream is over: the reader's exit code (0 when fine) and its complaints (`tar: …` lines). */
  readonly done: Promise<{ exitCode: number | null; stderr: string }>;
  close(): void;
}

/**
 * Opens the tar stream of the areas (`result`, `artifacts`) of an attempt's workload `pod`.
 * @throws ApplicationFailure `CollectorUnavailable` (not retryable) when they can no longer be read.
 */
export type OpenOutputTar = (
  input: CollectOutputsInput,
  pod: string,
  areas: readonly string[],
  signal: AbortSignal,
) => Promise<OutputTar>;

export interface OutputActivityDeps {
  /** The cluster whose collector sidecar is read (`exec tar`); not needed where `openTar` is given. */
  readonly kube?: KubeClients;
  readonly store: ObjectStore;
  readonly heartbeatIntervalMs?: number;
  /** Another executor's way to the output tar (Docker: the archive API); default: the collector sidecar. */
  readonly openTar?: OpenOutputTar;
  /**
   * Sends the spans the evaluation left (`ASSAY_SPANS_PATH`) to the trace store, keeping those of `traceId` only
   * (src/telemetry/pod-spans.ts); absent where tracing is off.
   */
  readonly forwardSpans?: (spans: Buffer, traceId: string) => Promise<unknown>;
}

/** Forwards the evaluation's own spans, best effort: a bad file or an unreachable store is logged, never fatal. */
async function forwardEvaluationSpans(
  deps: OutputActivityDeps,
  spans: Buffer | null,
  log: { warn(message: string, meta?: Record<string, unknown>): void },
): Promise<void> {
  if (spans === null || deps.forwardSpans === undefined) return;
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext === undefined || !isSpanContextValid(spanContext)) return;
  try {
    await deps.forwardSpans(spans, spanContext.traceId);
  } catch (err) {
    log.warn("the evaluation's spans were not forwarded", {
      error: err instanceof Error ? err.message : String(err),
    });
  }
}

function parseJson(bytes: Buffer): { ok: true; value: unknown } | { ok: false; message: string } {
  try {
    return {
      ok: true,
      value: JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown,
    };
  } catch (err) {
    return { ok: false, message: err instanceof Error ? err.message : String(err) };
  }
}

/** `tar: can't open 'x': Permission denied` and the like, one violation per line. */
export function tarComplaints(stderr: string): ArtifactViolation[] {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('tar: '))
    .map((line) => {
      const path = /'([^']*)'/.exec(line)?.[1] ?? '';
      return { path, kind: 'unreadable' as const, message: line.slice('tar: '.length) };
    });
}

/** The collector sidecar's `tar`, streamed out through the API server (exec). */
function collectorTar(kube: KubeClients): OpenOutputTar {
  const { core, config } = kube;
  async function collectorRunning(namespace: string, pod: string): Promise<boolean> {
    const p = await orNullOn404(core.readNamespacedPod({ name: pod, namespace }));
    const status = p?.status?.containerStatuses?.find((c) => c.name === collectorContainerName);
    return status?.state?.running !== undefined;
  }
  return async (input, pod, areas, signal) => {
    if (!(await collectorRunning(input.namespace, pod))) {
      throw ApplicationFailure.create({
        type: collectorUnavailableType,
        nonRetryable: true,
        message: `the collector of pod ${pod} is not running: the result file and artifacts cannot be read`,
      });
    }
    const base = assayArtifactsDir.slice(0, assayArtifactsDir.lastIndexOf('/'));
    return await execStream(config, {
      namespace: input.namespace,
      pod,
      container: collectorContainerName,
      command: ['tar', '-c', '-f', '-', '-C', base, ...areas],
      signal,
    });
  };
}

export function createOutputActivities(deps: OutputActivityDeps): OutputActivities {
  const heartbeatEvery = deps.heartbeatIntervalMs ?? 3000;
  const openTar =
    deps.openTar ??
    (deps.kube !== undefined
      ? collectorTar(deps.kube)
      : () => Promise.reject(new Error('createOutputActivities needs kube or openTar')));

  async function abortUnfinished(prefix: string, signal: AbortSignal): Promise<void> {
    for await (const upload of deps.store.listMultipartUploads(prefix, { signal })) {
      await deps.store.abortMultipart(upload.key, upload.uploadId, { signal });
    }
  }

  async function readCollector(
    input: CollectOutputsInput,
    outputs: JobOutputs,
    pod: string,
    progress: { files: number; bytes: number },
    signal: AbortSignal,
  ): Promise<ExtractOutcome> {
    const areas = [
      ...(outputs.result !== null ? ['result'] : []),
      ...(outputs.artifacts !== null ? ['artifacts'] : []),
    ];
    if (outputs.artifacts !== null)
      await abortUnfinished(storageKeys.artifactsPrefix(input.evaluationId), signal);
    const exec = await openTar(input, pod, areas, signal);
    let extracted: ExtractOutcome;
    try {
      extracted = await extractTar(exec.stdout, {
        evaluationId: input.evaluationId,
        policy: new EntryPolicy(outputs.artifacts, outputs.result),
        store: deps.store,
        signal,
        progress,
      });
    } catch (err) {
      exec.close();
      throw err;
    }
    const end = await exec.done;
    const complaints = tarComplaints(end.stderr);
    if (end.exitCode !== 0 && complaints.length === 0) {
      throw new Error(
        `tar in the collector exited with ${end.exitCode ?? 'an unknown status'}: ${end.stderr.slice(0, 500)}`,
      );
    }
    return {
      ...extracted,
      violations: [...extracted.violations, ...complaints].slice(0, 100),
      violationCount: extracted.violationCount + complaints.length,
    };
  }

  return {
    async collectOutputs(input) {
      const ctx = Context.current();
      const signal = ctx.cancellationSignal;
      const progress = { files: 0, bytes: 0 };
      const stopHeartbeat = startHeartbeat(ctx, () => progress, heartbeatEvery);
      try {
        const outputs = input.outputs;
        let extracted: ExtractOutcome | null = null;
        if (outputs !== null && input.pod !== null) {
          extracted = await readCollector(input, outputs, input.pod, progress, signal);
          await forwardEvaluationSpans(deps, extracted.spans, ctx.log);
        }

        // The result: the result file when there is one, else the termination message.
        const violations = [...(extracted?.violations ?? [])];
        let violationCount = extracted?.violationCount ?? 0;
        let resultBytes: Buffer | null = null;
        let source: ResultInfo['source'] = 'file';
        let value: unknown = null;
        if (extracted?.result != null) {
          const parsed = parseJson(extracted.result);
          if (parsed.ok) {
            resultBytes = extracted.result;
            value = parsed.value;
          } else {
            violationCount++;
            violations.push({
              path: `result/${outputs?.result?.path ?? ''}`,
              kind: 'resultInvalid',
              message: `not JSON: ${parsed.message}`,
            });
          }
        }
        if (
          resultBytes === null &&
          input.terminationMessage !== null &&
          input.terminationMessage.trim() !== ''
        ) {
          const bytes = Buffer.from(input.terminationMessage, 'utf8');
          const parsed = parseJson(bytes);
          if (parsed.ok) {
            resultBytes = bytes;
            value = parsed.value;
            source = 'terminationMessage';
          }
        }
        let resultInfo: ResultInfo | null = null;
        if (resultBytes !== null) {
          const key = storageKeys.result(input.evaluationId, input.attempt);
          await deps.store.put(key, resultBytes, { contentType: 'application/json', signal });
          resultInfo = {
            source,
            key,
            bytes: resultBytes.length,
            sha256: createHash('sha256').update(resultBytes).digest('hex'),
            inline: resultBytes.length <= inlineResultLimit,
          };
        }

        let summary: ArtifactsSummary | null = null;
        let artifacts: ArtifactEntry[] = [];
        if (extracted !== null) {
          const manifest: StoredManifest = {
            evaluationId: input.evaluationId,
            attempt: input.attempt,
            files: extracted.manifest.length,
            bytes: extracted.manifest.reduce((n, e) => n + e.bytes, 0),
            entries: extracted.manifest,
            violations,
            violationCount,
          };
          const manifestKey = storageKeys.artifactsManifest(input.evaluationId);
          await deps.store.put(manifestKey, `${JSON.stringify(manifest, null, 2)}\n`, {
            contentType: 'application/json',
            signal,
          });
          const complete = extracted.manifest.length <= inlineManifestLimit;
          artifacts = complete ? extracted.manifest : [];
          summary = {
            manifestKey,
            files: manifest.files,
            bytes: manifest.bytes,
            complete,
            violations,
            violationCount,
          };
        }
        return {
          result: resultInfo?.inline === true ? value : null,
          resultInfo,
          artifacts,
          artifactsSummary: summary,
        };
      } finally {
        stopHeartbeat();
      }
    },
  };
}
