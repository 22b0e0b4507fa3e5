/**
 * Reads the collector's tar stream entry by entry and stores what the {@link EntryPolicy} admits. A large artifact is
 * streamed into its own object (hashing on the way) with the store's bounded-memory upload, so memory does not grow
 * with the size of a file or of the stream. Small artifacts are packed: their bytes are appended to a pack object
 * (`artifact-packs/<n>.pack`) and the manifest gives each one's offset, because one request per file would bound a
 * directory of many small files by the store's request rate (a few hundred PUTs per second) rather than by its
 * bandwidth. Full packs are uploaded while the stream goes on, a few at a time.
 *
 * An object becomes visible only once complete (a single PUT, or a multipart upload that is completed): a crash
 * mid-file leaves no partial object under a final key, only an unfinished upload, which the next attempt aborts. Pack
 * numbers follow the stream's order, so an extraction run again writes the same packs.
 */
import { createHash } from 'node:crypto';
import { Readable, type Writable } from 'node:stream';
import tar from 'tar-stream';
import type { ArtifactEntry, ArtifactViolation } from '../spec/record.js';
import { storageKeys } from '../spec/storage-keys.js';
import type { ObjectStore } from '../storage/object-store.js';
import { type EntryPolicy, artifactKey, maxReportedViolations } from './policy.js';

export interface ExtractOptions {
  readonly evaluationId: string;
  readonly policy: EntryPolicy;
  readonly store: ObjectStore;
  readonly signal?: AbortSignal;
  /** Updated as bytes arrive; read by the caller's heartbeat. */
  readonly progress?: { files: number; bytes: number };
  /** Packing thresholds; {@link defaultPacking} unless given. */
  readonly packing?: PackingOptions;
}

/** When an artifact goes into a pack, and how large packs grow. */
export interface PackingOptions {
  /** Files of at most this many bytes are packed; larger ones get an object of their own. */
  readonly maxFileBytes: number;
  /** A pack is uploaded once it holds this many bytes (and at the end of the stream). */
  readonly packBytes: number;
  /** Packs uploading at once; the memory held is about `packBytes × (uploads + 1)`. */
  readonly uploads: number;
}

export const defaultPacking: PackingOptions = {
  maxFileBytes: 256 * 1024,
  packBytes: 8 * 1024 * 1024,
  uploads: 3,
};

export interface ExtractOutcome {
  readonly manifest: ArtifactEntry[];
  /** The first {@link maxReportedViolations} violations, in stream order. */
  readonly violations: ArtifactViolation[];
  readonly violationCount: number;
  /** The result file's bytes (at most the result's maxBytes), or null when the stream had none. */
  readonly result: Buffer | null;
  /** The evaluation's spans file (`ASSAY_SPANS_PATH`), or null when it left none. */
  readonly spans: Buffer | null;
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
  const packing = options.packing ?? defaultPacking;
  const manifest: ArtifactEntry[] = [];
  const violations: ArtifactViolation[] = [];
  let violationCount = 0;
  let result: Buffer | null = null;
  let spans: Buffer | null = null;
  const requestOptions = signal !== undefined ? { signal } : {};

  // The pack being filled, and the uploads of full ones (at most `packing.uploads` at once).
  let pack: { key: string; chunks: Buffer[]; bytes: number } | null = null;
  let packCount = 0;
  const uploading = new Set<Promise<unknown>>();
  let uploadError: Error | undefined = undefined;
  const flushPack = async (): Promise<void> => {
    if (pack === null) return;
    const { key, chunks } = pack;
    pack = null;
    while (uploading.size >= packing.uploads) await Promise.race(uploading);
    if (uploadError !== undefined) throw uploadError;
    const upload = store
      .put(key, Buffer.concat(chunks), { contentType: 'application/octet-stream', ...requestOptions })
      .catch((err: unknown) => {
        uploadError ??= err instanceof Error ? err : new Error(String(err));
      })
      .finally(() => uploading.delete(upload));
    uploading.add(upload);
  };
  const packFile = async (path: string, body: Buffer): Promise<void> => {
    if (pack !== null && pack.bytes + body.length > packing.packBytes) await flushPack();
    pack ??= { key: storageKeys.artifactPack(options.evaluationId, packCount++), chunks: [], bytes: 0 };
    manifest.push({
      path,
      key: pack.key,
      bytes: body.length,
      sha256: createHash('sha256').update(body).digest('hex'),
      offset: pack.bytes,
    });
    pack.chunks.push(body);
    pack.bytes += body.length;
    if (options.progress !== undefined) {
      options.progress.bytes += body.length;
      options.progress.files++;
    }
  };
  const extract = tar.extract();
  // Piped by hand: Node's `pipeline` throws an uncaught "Premature close" from a listener when the (streamx) extract
  // stream is destroyed early, which would take the worker down instead of failing this extraction.
  source.pipe(extract as unknown as Writable);
  const fail = (err: unknown): void =>
    void extract.destroy(err instanceof Error ? err : new Error(String(err)));
  source.once('error', fail);
  const onAbort = (): void => fail(signal?.reason ?? new Error('aborted'));
  signal?.addEventListener('abort', onAbort, { once: true });
  let finished = false;
  try {
    for await (const entry of extract) {
      const decision = policy.decide(entry.header);
      switch (decision.action) {
        case 'artifact': {
          if (entry.header.size !== undefined && entry.header.size <= packing.maxFileBytes) {
            const chunks: Buffer[] = [];
            for await (const chunk of entry) chunks.push(chunk as Buffer);
            await packFile(decision.path, Buffer.concat(chunks));
            break;
          }
          const key = artifactKey(options.evaluationId, decision.path);
          const hash = createHash('sha256');
          let bytes = 0;
          const progress = options.progress;
          const hashed = Readable.from(
            (async function* () {
              for await (const chunk of entry as AsyncIterable<Buffer>) {
                hash.update(chunk);
                bytes += chunk.length;
                if (progress !== undefined) progress.bytes += chunk.length;
                yield chunk;
              }
            })(),
          );
          await store.put(key, hashed, { contentType: contentTypeOf(decision.path), ...requestOptions });
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
        case 'spans': {
          const chunks: Buffer[] = [];
          for await (const chunk of entry) chunks.push(chunk as Buffer);
          spans = Buffer.concat(chunks);
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
    await flushPack();
    await Promise.all(uploading);
    // Set by an upload's callback: TypeScript cannot see that the awaits above may have changed it.
    const failed = uploadError as Error | undefined;
    if (failed !== undefined) throw failed;
    finished = true;
  } finally {
    signal?.removeEventListener('abort', onAbort);
    source.off('error', fail);
    if (!finished) source.destroy();
  }
  return { manifest, violations, violationCount, result, spans };
}
