/**
 * Reads the collector's tar stream entry by entry and stores what the {@link EntryPolicy} admits: each artifact is
 * streamed into its object (hashing on the way) with the store's bounded-memory upload, so memory does not grow with
 * the size of a file or of the stream. An object becomes visible only once complete (a single PUT, or a multipart
 * upload that is completed): a crash mid-file leaves no partial object under a final key, only an unfinished upload,
 * which the next attempt aborts.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { ArtifactEntry, ArtifactViolation } from '../spec/record.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type EntryPolicy, artifactKey, maxReportedViolations } from './policy.js';

export interface ExtractOptions {
  readonly evaluationId: string;
  readonly policy: EntryPolicy;
  readonly store: ObjectStore;
  readonly signal?: AbortSignal;
  /** Updated as bytes arrive; read by the caller's heartbeat. */
  readonly progress?: { files: number; bytes: number };
}

export interface ExtractOutcome {
  readonly manifest: ArtifactEntry[];
  /** The first {@link maxReportedViolations} violations, in stream order. */
  readonly violations: ArtifactViolation[];
  readonly violationCount: number;
  /** The result file's bytes (at most the result's maxBytes), or null when the stream had none. */
  readonly result: Buffer | null;
}

const contentTypes: Record<string, string> = {
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  jsonl: 'application/x-ndjson',
  txt: 'text/plain; charset=utf-8',
  log: 'text/plain; charset=utf-8',
  csv: 'text/csv; charset=utf-8',
  html: 'text/html; charset=utf-8',
  md: 'text/markdown; charset=utf-8',
  png: 'image/png',
  svg: 'image/svg+xml',
};

function contentTypeOf(path: string): string {
  const ext = /\.([A-Za-z0-9]+)$/.exec(path)?.[1]?.toLowerCase();
  return (ext !== undefined ? contentTypes[ext] : undefined) ?? 'application/octet-stream';
}

/**
 * Consumes a tar stream to its end.
 *
 * @throws the store's errors (the caller retries the whole extraction) and the tar parser's (a corrupt stream).
 */
export async function extractTar(source: Readable, options: ExtractOptions): Promise<ExtractOutcome> {
  const { policy, store, signal } = options;
  const manifest: ArtifactEntry[] = [];
  const violations: ArtifactViolation[] = [];
  let violationCount = 0;
  let result: Buffer | null = null;
  const extract = tar.extract();
  const feeding = pipeline(source, extract, signal !== undefined ? { signal } : {});
  // A feeding failure also ends the iteration below with the error; this only keeps it from going unhandled.
  feeding.catch(() => undefined);

  for await (const entry of extract) {
    const decision = policy.decide(entry.header);
    switch (decision.action) {
      case 'artifact': {
        const key = artifactKey(options.evaluationId, decision.path);
        const hash = createHash('sha256');
        let bytes = 0;
        const counter = new Transform({
          transform(chunk: Buffer, _encoding, callback) {
            hash.update(chunk);
            bytes += chunk.length;
            if (options.progress !== undefined) options.progress.bytes += chunk.length;
            callback(null, chunk);
          },
        });
        await Promise.all([
          pipeline(entry, counter),
          store.put(key, counter, {
            contentType: contentTypeOf(decision.path),
            ...(signal !== undefined ? { signal } : {}),
          }),
        ]);
        manifest.push({ path: decision.path, key, bytes, sha256: hash.digest('hex') });
        if (options.progress !== undefined) options.progress.files++;
        break;
      }
      case 'result': {
        const chunks: Buffer[] = [];
        for await (const chunk of entry) chunks.push(chunk as Buffer);
        result = Buffer.concat(chunks);
        break;
      }
      case 'reject':
        violationCount++;
        if (violations.length < maxReportedViolations) violations.push(decision.violation);
        entry.resume();
        break;
      case 'ignore':
        entry.resume();
        break;
    }
  }
  await feeding;
  return { manifest, violations, violationCount, result };
}
