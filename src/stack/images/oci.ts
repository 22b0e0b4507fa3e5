import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { lstat, mkdir, readdir, readlink, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';

/** Image configuration written into the OCI config blob (the subset the local stack needs). */
export interface ImageRuntimeConfig {
  /** Numeric `uid:gid`, so `runAsNonRoot` can be verified by the kubelet without a passwd lookup. */
  user: string;
  env: string[];
  entrypoint?: string[];
  cmd?: string[];
  workingDir?: string;
  labels?: Record<string, string>;
}

/** Who owns which part of the image: everything is root's unless a path prefix says otherwise. */
export interface Ownership {
  path: string;
  uid: number;
  gid: number;
}

export interface OciArchiveInput {
  /** Directory holding the image's root filesystem. */
  rootfs: string;
  /** Full references, e.g. `localhost/assay/busybox:1.35`; every one names the same image. */
  refs: readonly string[];
  config: ImageRuntimeConfig;
  ownership?: Ownership[];
  /** Where the OCI layout tarball is written (atomically). */
  outFile: string;
}

export interface OciArchive {
  refs: readonly string[];
  file: string;
  /** Digest of the image manifest: what containerd reports as the image's target digest. */
  manifestDigest: string;
  layerDigest: string;
  layerSize: number;
}

const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
const MEDIA_LAYER = 'application/vnd.oci.image.layer.v1.tar';
/** Fixed timestamps keep layers reproducible: the same rootfs always yields the same digests. */
const EPOCH = new Date('2000-01-01T00:00:00Z');

class HashingCounter extends Transform {
  readonly hash = createHash('sha256');
  size = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    cb(null, chunk);
  }
}

function ownerOf(relPath: string, ownership: Ownership[]): { uid: number; gid: number } {
  let best: Ownership | undefined;
  for (const o of ownership) {
    const prefix = o.path.replace(/^\/+/, '').replace(/\/+$/, '');
    if (relPath === prefix || relPath.startsWith(`${prefix}/`)) {
      if (!best || o.path.length > best.path.length) best = o;
    }
  }
  return best ? { uid: best.uid, gid: best.gid } : { uid: 0, gid: 0 };
}

async function* walk(root: string, rel = ''): AsyncGenerator<string> {
  const entries = (await readdir(join(root, rel))).sort();
  for (const name of entries) {
    const child = rel ? `${rel}/${name}` : name;
    yield child;
    const st = await lstat(join(root, child));
    if (st.isDirectory()) yield* walk(root, child);
  }
}

/**
 * Writes the root filesystem as one uncompressed layer tarball (sorted entries, fixed mtimes, hard links kept).
 *
 * @throws when the rootfs holds a device node or socket (images are built from plain files).
 */
export async function writeLayer(
  rootfs: string,
  outFile: string,
  ownership: Ownership[] = [],
): Promise<{ digest: string; size: number }> {
  const pack = tar.pack();
  const counter = new HashingCounter();
  const done = pipeline(pack, counter, createWriteStream(outFile));
  const seenInodes = new Map<string, string>();
  try {
    for await (const rel of walk(rootfs)) {
      const full = join(rootfs, rel);
      const st = await lstat(full);
      const { uid, gid } = ownerOf(rel, ownership);
      const base = { name: rel, mode: st.mode & 0o7777, uid, gid, mtime: EPOCH, uname: '', gname: '' };
      if (st.isDirectory()) {
        pack.entry({ ...base, name: `${rel}/`, type: 'directory' });
      } else if (st.isSymbolicLink()) {
        pack.entry({ ...base, type: 'symlink', linkname: await readlink(full) });
      } else if (st.isFile()) {
        const inode = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? seenInodes.get(inode) : undefined;
        if (first !== undefined) {
          pack.entry({ ...base, type: 'link', linkname: first });
          continue;
        }
        if (st.nlink > 1) seenInodes.set(inode, rel);
        const entry = pack.entry({ ...base, type: 'file', size: st.size });
        await pipeline(createReadStream(full), entry);
      } else {
        throw new Error(`image rootfs ${rootfs}: unsupported file type at ${rel}`);
      }
    }
    pack.finalize();
  } catch (err) {
    pack.destroy(err as Error);
    await done.catch(() => undefined);
    throw err;
  }
  await done;
  return { digest: `sha256:${counter.hash.digest('hex')}`, size: counter.size };
}

function blob(json: unknown): { bytes: Buffer; digest: string } {
  const bytes = Buffer.from(JSON.stringify(json));
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}` };
}

/**
 * Builds an OCI image layout tarball (`oci-layout`, `index.json`, `blobs/sha256/…`) holding one single-layer
 * linux/amd64 image, importable with `ctr images import`. The index names the image both ways containerd reads
 * (`io.containerd.image.name` and `org.opencontainers.image.ref.name`).
 *
 * @throws when the rootfs cannot be read or the output cannot be written.
 */
export async function buildOciArchive(input: OciArchiveInput): Promise<OciArchive> {
  await mkdir(dirname(input.outFile), { recursive: true });
  const layerFile = `${input.outFile}.layer.tmp`;
  const tmpOut = `${input.outFile}.tmp`;
  try {
    const layer = await writeLayer(input.rootfs, layerFile, input.ownership);
    const created = EPOCH.toISOString();
    const config = blob({
      created,
      architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
      os: 'linux',
      config: {
        User: input.config.user,
        Env: input.config.env,
        ...(input.config.entrypoint ? { Entrypoint: input.config.entrypoint } : {}),
        ...(input.config.cmd ? { Cmd: input.config.cmd } : {}),
        ...(input.config.workingDir ? { WorkingDir: input.config.workingDir } : {}),
        ...(input.config.labels ? { Labels: input.config.labels } : {}),
      },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
      history: [{ created, created_by: 'assay local stack image builder' }],
    });
    const manifest = blob({
      schemaVersion: 2,
      mediaType: MEDIA_MANIFEST,
      config: { mediaType: MEDIA_CONFIG, digest: config.digest, size: config.bytes.length },
      layers: [{ mediaType: MEDIA_LAYER, digest: layer.digest, size: layer.size }],
    });
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: input.refs.map((ref) => ({
          mediaType: MEDIA_MANIFEST,
          digest: manifest.digest,
          size: manifest.bytes.length,
          platform: { architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux' },
          annotations: {
            'io.containerd.image.name': ref,
            'org.opencontainers.image.ref.name': ref.slice(ref.lastIndexOf(':') + 1),
          },
        })),
      }),
    );

    const pack = tar.pack();
    const done = pipeline(pack, createWriteStream(tmpOut));
    const file = (name: string, bytes: Buffer): void => {
      pack.entry({ name, mode: 0o644, mtime: EPOCH }, bytes);
    };
    pack.entry({ name: 'blobs/', type: 'directory', mode: 0o755, mtime: EPOCH });
    pack.entry({ name: 'blobs/sha256/', type: 'directory', mode: 0o755, mtime: EPOCH });
    file('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
    file('index.json', index);
    file(`blobs/sha256/${manifest.digest.slice(7)}`, manifest.bytes);
    file(`blobs/sha256/${config.digest.slice(7)}`, config.bytes);
    const layerEntry = pack.entry({
      name: `blobs/sha256/${layer.digest.slice(7)}`,
      mode: 0o644,
      mtime: EPOCH,
      size: (await stat(layerFile)).size,
    });
    await pipeline(createReadStream(layerFile), layerEntry);
    pack.finalize();
    await done;
    await rename(tmpOut, input.outFile);
    return {
      refs: input.refs,
      file: input.outFile,
      manifestDigest: manifest.digest,
      layerDigest: layer.digest,
      layerSize: layer.size,
    };
  } finally {
    await rm(layerFile, { force: true });
    await rm(tmpOut, { force: true });
  }
}

/** Reads the manifest digest and image names back from an OCI layout tarball written by {@link buildOciArchive}. */
export async function readOciArchiveIndex(file: string): Promise<{ refs: string[]; manifestDigest: string }> {
  const extract = tar.extract();
  const source = createReadStream(file);
  source.pipe(extract);
  try {
    for await (const entry of extract) {
      if (entry.header.name === 'index.json') {
        const chunks: Buffer[] = [];
        for await (const c of entry) chunks.push(c as Buffer);
        const index = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
          manifests: { digest: string; annotations?: Record<string, string> }[];
        };
        const refs = index.manifests.flatMap((m) => m.annotations?.['io.containerd.image.name'] ?? []);
        const first = index.manifests[0];
        if (!first || refs.length === 0) throw new Error(`${file}: index.json names no image`);
        return { refs, manifestDigest: first.digest };
      }
      entry.resume();
    }
  } finally {
    source.destroy();
  }
  throw new Error(`${file}: no index.json (not an OCI layout tarball)`);
}
