/**
 * `assay artifacts ID [--download DIR]`: list an evaluation's artifact manifest, or fetch every artifact into DIR and
 * check each one's sha256. Reads object storage only (`ASSAY_S3_*`), so it works after Temporal's retention too.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { dirname, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import Table from 'cli-table3';
import { Command } from 'commander';
import { z } from 'zod';
import { safeSegments } from '../../artifacts/policy.js';
import { openArtifact } from '../../artifacts/read.js';
import { artifactEntrySchema, artifactViolationSchema, type ArtifactEntry } from '../../spec/record.js';
import { evaluationIdSchema } from '../../spec/names.js';
import { storageKeys } from '../../spec/storage-keys.js';
import {
  orNullIfNotFound,
  createS3ObjectStore,
  loadS3Config,
  type ObjectStore,
} from '../../storage/index.js';
import { exitCodes } from './exit-codes.js';
import {
  outputOption,
  printData,
  usageExitsTwo,
  type CliIo,
  type OutputFormat,
} from './evaluation-common.js';

/** Artifacts downloaded at once by `--download`. */
const downloadConcurrency = 8;

/** The stored manifest, parsed at the boundary. */
export const storedManifestSchema = z.object({
  evaluationId: z.string(),
  attempt: z.number().int().positive(),
  files: z.number().int().nonnegative(),
  bytes: z.number().int().nonnegative(),
  entries: z.array(artifactEntrySchema),
  violations: z.array(artifactViolationSchema),
  violationCount: z.number().int().nonnegative(),
});
export type StoredManifestView = z.infer<typeof storedManifestSchema>;

/** Thrown when a downloaded file's digest differs from the manifest's. */
export class ArtifactDigestMismatchError extends Error {
  readonly code = 'ASSAY_ARTIFACT_DIGEST_MISMATCH';
  constructor(
    readonly path: string,
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`${path}: sha256 ${actual} does not match the manifest's ${expected}`);
    this.name = 'ArtifactDigestMismatchError';
  }
}

/**
 * Reads an evaluation's manifest, or null when it has none.
 *
 * @throws {ZodError} when the stored manifest is not one.
 */
export async function readManifest(
  store: ObjectStore,
  evaluationId: string,
): Promise<StoredManifestView | null> {
  const bytes = await orNullIfNotFound(store.getBytes(storageKeys.artifactsManifest(evaluationId)));
  return bytes === null ? null : storedManifestSchema.parse(JSON.parse(bytes.toString('utf8')));
}

/** Where `path` goes under `dir`; refuses anything that would land outside it. */
export function downloadTarget(dir: string, path: string): string {
  const safe = safeSegments(path);
  const root = resolve(dir);
  if (!safe.ok || safe.segments.length === 0)
    throw new Error(`refusing to write artifact ${JSON.stringify(path)}`);
  const target = resolve(root, ...safe.segments);
  if (!target.startsWith(root + sep)) throw new Error(`refusing to write artifact ${JSON.stringify(path)}`);
  return target;
}

/**
 * Downloads one artifact, verifying its sha256 before it takes its final name.
 *
 * @throws {ArtifactDigestMismatchError} when the digest differs (nothing is left at the target).
 */
export async function downloadArtifact(
  store: ObjectStore,
  entry: Pick<ArtifactEntry, 'path' | 'key' | 'bytes' | 'sha256' | 'offset'>,
  dir: string,
): Promise<void> {
  const target = downloadTarget(dir, entry.path);
  await mkdir(dirname(target), { recursive: true });
  const partial = `${target}.assay-partial`;
  const hash = createHash('sha256');
  const hasher = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      callback(null, chunk);
    },
  });
  try {
    await pipeline(await openArtifact(store, entry), hasher, createWriteStream(partial));
    const actual = hash.digest('hex');
    if (actual !== entry.sha256) throw new ArtifactDigestMismatchError(entry.path, entry.sha256, actual);
    await rename(partial, target);
  } catch (err) {
    await rm(partial, { force: true });
    throw err;
  }
}

function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = -1;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

export function artifactsCommand(io: CliIo = process): Command {
  return usageExitsTwo(
    new Command('artifacts')
      .description(
        "List an evaluation's artifacts (path, size, sha256), or download them and check each sha256.",
      )
      .argument('<id>', 'evaluation id')
      .option('--download <dir>', 'download every artifact into this directory')
      .addOption(outputOption())
      .action(async (id: string, options: { download?: string; output: OutputFormat }) => {
        if (!evaluationIdSchema.safeParse(id).success) {
          io.stderr.write(`assay: invalid evaluation id ${JSON.stringify(id)}\n`);
          process.exitCode = exitCodes.invalidInput;
          return;
        }
        const store = createS3ObjectStore(loadS3Config());
        const manifest = await readManifest(store, id);
        if (manifest === null) {
          io.stderr.write(`assay: evaluation ${id} has no stored artifacts\n`);
          process.exitCode = exitCodes.invalidInput;
          return;
        }
        if (options.download !== undefined) {
          let failed = 0;
          // File by file (each checked against its sha256), a few at a time: most are small ranges of a pack.
          let next = 0;
          const downloader = async (dir: string): Promise<void> => {
            for (let i = next++; i < manifest.entries.length; i = next++) {
              const entry = manifest.entries[i]!;
              try {
                await downloadArtifact(store, entry, dir);
                io.stdout.write(`${entry.sha256}  ${entry.path}\n`);
              } catch (err) {
                failed++;
                io.stderr.write(`assay: ${err instanceof Error ? err.message : String(err)}\n`);
              }
            }
          };
          const dir = options.download;
          await Promise.all(Array.from({ length: downloadConcurrency }, () => downloader(dir)));
          io.stderr.write(
            `${manifest.entries.length - failed} of ${manifest.entries.length} artifacts downloaded to ${options.download}, sha256 checked\n`,
          );
          process.exitCode = failed === 0 ? exitCodes.succeeded : exitCodes.infrastructure;
          return;
        }
        if (options.output !== 'table') {
          printData(io, options.output, manifest);
          return;
        }
        const table = new Table({ head: ['path', 'size', 'sha256'], style: { head: [], border: [] } });
        for (const e of manifest.entries) table.push([e.path, formatBytes(e.bytes), e.sha256]);
        io.stdout.write(`${table.toString()}\n`);
        io.stdout.write(`${manifest.files} files, ${formatBytes(manifest.bytes)}\n`);
        if (manifest.violationCount > 0) {
          io.stdout.write(`${manifest.violationCount} entries refused:\n`);
          for (const v of manifest.violations) io.stdout.write(`  ${v.kind}  ${v.path}  ${v.message}\n`);
        }
      }),
  );
}
