import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackContext } from '../component.js';
import { withFileLock } from '../lock.js';
import { run } from './exec.js';
import { buildOciArchive, readOciArchiveIndex, type ImageRuntimeConfig, type Ownership } from './oci.js';

/** The registry-less prefix of every locally built image: `localhost/assay/<name>:<tag>`. */
export const LOCAL_IMAGE_PREFIX = 'localhost/assay';

/** Bumped when the builder itself changes in a way that changes images, so every cached tarball is rebuilt. */
const BUILDER_VERSION = '1';

/** What a recipe's build step returns besides the populated rootfs. */
export interface ImageBuildResult {
  config: ImageRuntimeConfig;
  ownership?: Ownership[];
}

/**
 * A locally built image: a recipe that fills a root filesystem directory. Later issues add images by writing one of
 * these and adding it to the list they ensure.
 */
export interface LocalImage {
  /** Short name: the image is `localhost/assay/<name>:<tag>` for each tag. */
  readonly name: string;
  /** The first tag is the canonical one. Never `latest` (the kubelet would default to pulling it). */
  readonly tags: readonly [string, ...string[]];
  /**
   * Everything the image's content depends on (package versions, binary hashes, recipe text): the tarball is
   * cached under a hash of it and built only once per distinct key.
   */
  key(ctx: StackContext): Promise<string>;
  build(ctx: StackContext, rootfs: string, workDir: string): Promise<ImageBuildResult>;
}

/** The canonical reference of a local image, e.g. `localhost/assay/busybox:1.35`. */
export function imageRef(image: Pick<LocalImage, 'name' | 'tags'>, tag: string = image.tags[0]): string {
  return `${LOCAL_IMAGE_PREFIX}/${image.name}:${tag}`;
}

export function imagesCacheDir(ctx: StackContext): string {
  return join(ctx.paths.root, 'images');
}

async function isFile(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Returns the cached OCI layout tarball of an image, building it (under a cross-process lock) when no tarball for
 * its current key exists.
 *
 * @throws when the recipe fails (e.g. a Debian package cannot be downloaded); nothing is cached then.
 */
export async function ensureImageArchive(ctx: StackContext, image: LocalImage): Promise<string> {
  const key = createHash('sha256')
    .update(`${BUILDER_VERSION}\0${image.name}\0${image.tags.join(',')}\0${await image.key(ctx)}`)
    .digest('hex')
    .slice(0, 16);
  const dir = imagesCacheDir(ctx);
  const file = join(dir, `${image.name}-${key}.oci.tar`);
  if (await isFile(file)) return file;
  return withFileLock(
    join(ctx.paths.locksDir, `image-${image.name}`),
    async () => {
      if (await isFile(file)) return file;
      await mkdir(ctx.paths.buildDir, { recursive: true });
      const work = await mkdtemp(join(ctx.paths.buildDir, `image-${image.name}-`));
      const started = Date.now();
      ctx.reporter.info(`building image ${imageRef(image)}`);
      try {
        const rootfs = join(work, 'rootfs');
        await mkdir(rootfs);
        const result = await image.build(ctx, rootfs, work);
        const archive = await buildOciArchive({
          rootfs,
          refs: image.tags.map((t) => imageRef(image, t)),
          config: result.config,
          ownership: result.ownership ?? [],
          outFile: file,
        });
        ctx.reporter.info(
          `  built ${imageRef(image)} (${Math.round(archive.layerSize / 1e6)} MB) in ` +
            `${Math.round((Date.now() - started) / 1000)} s`,
        );
        return file;
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
    { onWait: () => ctx.reporter.info(`waiting for another process building image ${image.name}`) },
  );
}

/** How to reach a containerd: its socket and the namespace the kubelet's CRI uses. */
export interface ContainerdTarget {
  readonly ctr: string;
  readonly address: string;
  readonly namespace: string;
}

/** Image names → manifest digest currently in containerd's namespace. */
export async function listContainerdImages(target: ContainerdTarget): Promise<Map<string, string>> {
  const { stdout } = await run(target.ctr, ['-a', target.address, '-n', target.namespace, 'images', 'ls']);
  const images = new Map<string, string>();
  for (const line of stdout.split('\n').slice(1)) {
    const [name, , digest] = line.trim().split(/\s+/);
    if (name && digest) images.set(name, digest);
  }
  return images;
}

/**
 * Makes sure every image is in containerd with exactly the cached content: builds missing tarballs and imports
 * (and unpacks) those whose names are absent or point at another digest. Returns the references imported.
 *
 * @throws when a build or an import fails.
 */
export async function ensureImagesImported(
  ctx: StackContext,
  target: ContainerdTarget,
  images: readonly LocalImage[],
): Promise<string[]> {
  const present = await listContainerdImages(target);
  const imported: string[] = [];
  for (const image of images) {
    const file = await ensureImageArchive(ctx, image);
    const { refs, manifestDigest } = await readOciArchiveIndex(file);
    if (refs.every((r) => present.get(r) === manifestDigest)) continue;
    await run(target.ctr, ['-a', target.address, '-n', target.namespace, 'images', 'import', file], {
      timeoutMs: 10 * 60_000,
    });
    imported.push(...refs);
  }
  return imported;
}
