/**
 * What may leave an evaluation's pod (docs/architecture.md, "Pod anatomy"): the pure rules the artifact extraction applies to
 * every entry of the tar stream it reads from the collector. An evaluation may be hostile, so each entry's name and
 * type is checked before anything is written, and nothing can map to a key outside the evaluation's prefix.
 *
 * No I/O here: the activity feeds entries in and acts on the decisions.
 */
import { maxSpansFileBytes, spansArtifactPath } from '../spec/trace-context.js';
import type { ArtifactViolation, ArtifactViolationKind } from '../spec/record.js';

/** Top-level directories of the collector's tar stream: `tar -c -C /assay result artifacts`. */
export const streamAreas = { result: 'result', artifacts: 'artifacts' } as const;

/** The entry types of a tar header (tar-stream's names). */
export type TarEntryType =
  | 'file'
  | 'contiguous-file'
  | 'directory'
  | 'symlink'
  | 'link'
  | 'character-device'
  | 'block-device'
  | 'fifo'
  | 'pax-header'
  | 'pax-global-header'
  | 'gnu-long-link-path'
  | 'gnu-long-path'
  | null
  | undefined;

/** The header fields the rules read. */
export interface TarEntry {
  readonly name: string;
  readonly type: TarEntryType;
  readonly size?: number | undefined;
  readonly linkname?: string | null | undefined;
}

/** Limits of one extraction, from the spec. */
export interface ArtifactLimits {
  /** Normalised spec paths (files, directories, globs) relative to the artifacts directory; `.` is everything. */
  readonly paths: readonly string[];
  readonly maxBytes: number;
  readonly maxFiles: number;
}

/** Limits of the result file, from the spec. */
export interface ResultLimits {
  /** Normalised path relative to the result directory. */
  readonly path: string;
  readonly maxBytes: number;
}

/** What to do with one entry. */
export type EntryDecision =
  /** Store the file's bytes under `evaluations/<id>/artifacts/<path>`. */
  | { readonly action: 'artifact'; readonly path: string; readonly size: number }
  /** The result file: read it (bounded) and validate it as JSON. */
  | { readonly action: 'result'; readonly size: number }
  /** The evaluation's own spans (`ASSAY_SPANS_PATH`, docs/observability.md): read them (bounded) for the trace store. */
  | { readonly action: 'spans'; readonly size: number }
  /** Not wanted and not a problem (directories, files outside the declared paths): drain it. */
  | { readonly action: 'ignore' }
  /** Refused: drain it and report the violation. */
  | { readonly action: 'reject'; readonly violation: ArtifactViolation };

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const controlCharacters = /[\u0000-\u001f\u007f]/;

/** The most violations kept in the record; beyond it only the count grows. */
export const maxReportedViolations = 100;

function violation(path: string, kind: ArtifactViolationKind, message: string): EntryDecision {
  return { action: 'reject', violation: { path, kind, message } };
}

/**
 * Splits a tar name into safe segments, or says why it is not safe. `./` prefixes and empty segments are dropped;
 * an absolute name, a `..` segment, control characters and backslashes (a `..\` escape on other systems) are refused.
 */
export function safeSegments(
  name: string,
): { ok: true; segments: string[] } | { ok: false; kind: ArtifactViolationKind; message: string } {
  if (name.startsWith('/')) return { ok: false, kind: 'absolutePath', message: 'absolute path' };
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.includes('..')) {
    return { ok: false, kind: 'parentTraversal', message: 'path contains ".."' };
  }
  if (controlCharacters.test(name)) {
    return { ok: false, kind: 'invalidName', message: 'path contains control characters' };
  }
  if (name.includes('\\')) {
    return {
      ok: false,
      kind: 'invalidName',
      message: 'path contains "\\" (a directory separator elsewhere)',
    };
  }
  return { ok: true, segments };
}

/**
 * Where a symbolic link in directory `dirSegments` (relative to the area's root) points, relative to that root, or
 * `null` when it leaves the root (absolute, or more `..` than depth).
 */
export function resolveLinkTarget(dirSegments: readonly string[], target: string): string[] | null {
  if (target.startsWith('/')) return null;
  const out = [...dirSegments];
  for (const segment of target.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(segment);
  }
  return out;
}

function globToRegExp(pattern: string): RegExp {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*') {
      if (pattern[i + 1] === '*') {
        // `**/` matches any number of directories, including none.
        if (pattern[i + 2] === '/') {
          source += '(?:.*/)?';
          i += 2;
        } else {
          source += '.*';
          i += 1;
        }
      } else source += '[^/]*';
    } else if (c === '?') source += '[^/]';
    else source += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${source}$`);
}

/**
 * A matcher for the spec's artifact paths: a path is wanted when a declared path names it, names one of its
 * directories (taken whole), or is a glob matching it or one of its directories.
 */
export function pathMatcher(paths: readonly string[]): (path: string) => boolean {
  if (paths.includes('.')) return () => true;
  const matchers = paths.map((p) => (/[*?]/.test(p) ? globToRegExp(p) : p));
  return (path) => {
    const segments = path.split('/');
    for (let n = 1; n <= segments.length; n++) {
      const prefix = segments.slice(0, n).join('/');
      for (const m of matchers) {
        if (typeof m === 'string' ? m === prefix : m.test(prefix)) return true;
      }
    }
    return false;
  };
}

/**
 * Decides entry by entry, keeping the running counts the limits need. Feed every header of the stream in order.
 */
export class EntryPolicy {
  #files = 0;
  #bytes = 0;
  readonly #wanted: (path: string) => boolean;

  constructor(
    readonly artifacts: ArtifactLimits | null,
    readonly result: ResultLimits | null,
  ) {
    this.#wanted = pathMatcher(artifacts?.paths ?? []);
  }

  /** Artifact files accepted so far. */
  get files(): number {
    return this.#files;
  }

  /** Artifact bytes accepted so far. */
  get bytes(): number {
    return this.#bytes;
  }

  decide(entry: TarEntry): EntryDecision {
    const shown = entry.name;
    const safe = safeSegments(entry.name);
    if (!safe.ok) return violation(shown, safe.kind, safe.message);
    const [area, ...segments] = safe.segments;
    const path = segments.join('/');
    const type = entry.type ?? 'file';
    if (area === streamAreas.result && this.result !== null) return this.#decideResult(entry, type, path);
    if (area !== streamAreas.artifacts || this.artifacts === null) {
      // Only the two areas are ever asked for: anything else is not from our tar command.
      return violation(shown, 'invalidName', 'outside the result and artifacts directories');
    }
    if (segments.length === 0 || type === 'directory') return { action: 'ignore' };
    if (path === spansArtifactPath && (type === 'file' || type === 'contiguous-file')) {
      // Assay's channel, whatever the declared paths: forwarded when small enough, never an artifact.
      const size = entry.size ?? 0;
      return size <= maxSpansFileBytes ? { action: 'spans', size } : { action: 'ignore' };
    }
    if (!this.#wanted(path)) return { action: 'ignore' };
    switch (type) {
      case 'file':
      case 'contiguous-file':
        return this.#admit(path, entry.size ?? 0);
      case 'symlink': {
        const target = resolveLinkTarget(segments.slice(0, -1), entry.linkname ?? '');
        if (target === null) {
          return violation(
            path,
            'linkOutside',
            `symbolic link to ${JSON.stringify(entry.linkname ?? '')} leaves the directory`,
          );
        }
        return violation(
          path,
          'link',
          `symbolic link to ${JSON.stringify(entry.linkname ?? '')} not followed`,
        );
      }
      case 'link': {
        // Hard-link targets are archive names (`artifacts/...`), checked like any name.
        const target = safeSegments(entry.linkname ?? '');
        if (!target.ok || target.segments[0] !== streamAreas.artifacts) {
          return violation(
            path,
            'linkOutside',
            `hard link to ${JSON.stringify(entry.linkname ?? '')} leaves the directory`,
          );
        }
        return violation(path, 'link', `hard link to ${JSON.stringify(entry.linkname ?? '')} not copied`);
      }
      case 'character-device':
      case 'block-device':
      case 'fifo':
        return violation(path, 'specialFile', `${type} refused`);
      default:
        return violation(path, 'specialFile', `entry of type ${String(type)} refused`);
    }
  }

  #decideResult(entry: TarEntry, type: NonNullable<TarEntryType>, path: string): EntryDecision {
    if (path !== this.result!.path) return { action: 'ignore' };
    if (type !== 'file' && type !== 'contiguous-file') {
      return violation(`result/${path}`, 'resultInvalid', `the result must be a regular file, not a ${type}`);
    }
    const size = entry.size ?? 0;
    if (size > this.result!.maxBytes) {
      return violation(
        `result/${path}`,
        'resultTooLarge',
        `${size} bytes, more than result.maxBytes ${this.result!.maxBytes}`,
      );
    }
    return { action: 'result', size };
  }

  #admit(path: string, size: number): EntryDecision {
    const limits = this.artifacts!;
    if (this.#files + 1 > limits.maxFiles) {
      return violation(path, 'tooManyFiles', `more than artifacts.maxFiles ${limits.maxFiles} files`);
    }
    if (this.#bytes + size > limits.maxBytes) {
      return violation(
        path,
        'tooManyBytes',
        `${size} bytes would take the artifacts past artifacts.maxBytes ${limits.maxBytes}`,
      );
    }
    this.#files++;
    this.#bytes += size;
    return { action: 'artifact', path, size };
  }
}

/** The object key of artifact `path` of evaluation `evaluationId`; `path` must come from {@link EntryPolicy}. */
export function artifactKey(evaluationId: string, path: string): string {
  const prefix = `evaluations/${evaluationId}/artifacts/`;
  const safe = safeSegments(path);
  if (!safe.ok || safe.segments.length === 0 || safe.segments.join('/') !== path) {
    throw new Error(`refusing artifact path ${JSON.stringify(path)}`);
  }
  return `${prefix}${path}`;
}
