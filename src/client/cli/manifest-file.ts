/**
 * Reading an EvaluationJob manifest from a YAML or JSON file (or stdin) for the CLI commands that take `-f FILE`.
 * The schema itself lives in `src/spec`, which stays free of file systems and YAML.
 */
import { readFile } from 'node:fs/promises';
import { parseAllDocuments } from 'yaml';
import { parseEvaluationJob, type EvaluationJob, type ParseResult } from '../../spec/index.js';

/** A manifest is a few kilobytes; refusing anything huge keeps a wrong `-f` argument from eating memory. */
export const maxManifestBytes = 1024 * 1024;

/** The manifest could not be read or is not well-formed YAML/JSON; the message says which and where. */
export class ManifestFileError extends Error {
  /** Stable code to match on. */
  readonly code = 'ASSAY_MANIFEST_UNREADABLE';
  /** The file as the user named it (`-` is stdin). */
  readonly source: string;

  constructor(source: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ManifestFileError';
    this.source = source;
  }
}

/** How the CLI names a source in messages. */
export function sourceName(file: string): string {
  return file === '-' ? '<stdin>' : file;
}

async function readStdin(stdin: AsyncIterable<Buffer | string>): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    size += buffer.length;
    if (size > maxManifestBytes)
      throw new ManifestFileError('-', `<stdin> is larger than ${maxManifestBytes} bytes`);
    chunks.push(buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function describeReadError(file: string, err: unknown): string {
  const code = typeof err === 'object' && err !== null && 'code' in err ? String(err.code) : undefined;
  switch (code) {
    case 'ENOENT':
      return `${file}: no such file`;
    case 'EACCES':
    case 'EPERM':
      return `${file}: permission denied`;
    case 'EISDIR':
      return `${file}: is a directory, not a manifest file`;
    default:
      return `${file}: cannot read: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/**
 * Reads the text of a manifest file, or of stdin when `file` is `-`.
 * @throws {@link ManifestFileError} when the file is missing, unreadable or larger than {@link maxManifestBytes}.
 */
export async function readManifestText(
  file: string,
  stdin: AsyncIterable<Buffer | string> = process.stdin,
): Promise<string> {
  if (file === '-') return readStdin(stdin);
  let buffer: Buffer;
  try {
    buffer = await readFile(file);
  } catch (err: unknown) {
    throw new ManifestFileError(file, describeReadError(file, err), { cause: err });
  }
  if (buffer.length > maxManifestBytes) {
    throw new ManifestFileError(
      file,
      `${file} is larger than ${maxManifestBytes} bytes; is it really a manifest?`,
    );
  }
  return buffer.toString('utf8');
}

/**
 * Parses manifest text as YAML (JSON is YAML too) into a plain value for the schema. Exactly one document is
 * expected: a stream of several would otherwise be silently cut to the first.
 * @throws {@link ManifestFileError} on a syntax error (with line and column), duplicate keys, an empty file or
 * several documents.
 */
export function parseManifestText(text: string, file: string): unknown {
  const name = sourceName(file);
  // The YAML 1.2 core schema keeps `yes`, `on` and dates as strings; duplicate keys are errors, not "last one wins".
  const documents = parseAllDocuments(text, { version: '1.2', uniqueKeys: true, prettyErrors: true });
  if (!Array.isArray(documents) || documents.length === 0) {
    throw new ManifestFileError(file, `${name} is empty; expected an EvaluationJob manifest`);
  }
  for (const document of documents) {
    const error = document.errors[0];
    if (error) {
      // prettyErrors appends a code frame after the first line; the first line already says where.
      const headline = (error.message.split('\n')[0] ?? error.message).replace(/:\s*$/, '');
      throw new ManifestFileError(file, `${name}: YAML syntax error: ${headline}`, { cause: error });
    }
  }
  if (documents.length > 1) {
    throw new ManifestFileError(
      file,
      `${name} holds ${documents.length} YAML documents; expected one manifest`,
    );
  }
  const value: unknown = documents[0]?.toJS({ maxAliasCount: 100 });
  if (value === null || value === undefined) {
    throw new ManifestFileError(file, `${name} is empty; expected an EvaluationJob manifest`);
  }
  return value;
}

/**
 * Reads, parses and validates a manifest file. Read and syntax problems throw; schema problems are returned as
 * issues, so the caller can print all of them.
 * @throws {@link ManifestFileError} when the file cannot be read or is not well-formed YAML/JSON.
 */
export async function loadEvaluationJobFile(
  file: string,
  stdin?: AsyncIterable<Buffer | string>,
): Promise<ParseResult<EvaluationJob>> {
  const text = await readManifestText(file, stdin);
  return parseEvaluationJob(parseManifestText(text, file));
}
