/**
 * Reading one artifact back, whether it is an object of its own or a range of a pack (see `./extract.ts`).
 */
import type { Readable } from 'node:stream';
import type { ArtifactEntry } from '../spec/record.js';
import type { ObjectStore, RequestOptions } from '../storage/object-store.js';

/**
 * The artifact's bytes as a stream. The caller must consume or destroy it.
 *
 * @throws {ObjectNotFoundError} when its object (or pack) does not exist.
 */
export async function openArtifact(
  store: ObjectStore,
  entry: Pick<ArtifactEntry, 'key' | 'bytes' | 'offset'>,
  options: RequestOptions = {},
): Promise<Readable> {
  if (entry.offset === undefined) return await store.get(entry.key, options);
  return await store.get(entry.key, { ...options, range: { offset: entry.offset, length: entry.bytes } });
}
