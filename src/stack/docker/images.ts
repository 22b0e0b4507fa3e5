/**
 * The stack's local images for the Docker engine: the same OCI layout tarballs the cluster imports
 * (`../images/local-images.ts`), given the `manifest.json` that Debian's Docker 20.10 `docker load` reads (it predates
 * OCI layout support), and loaded when the engine does not hold exactly that image.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { StackContext } from '../component.js';
import { run } from '../images/exec.js';
import { ensureImageArchive, imageRef, type LocalImage } from '../images/local-images.js';

interface OciIndex {
  manifests: { digest: string; annotations?: Record<string, string> }[];
}
interface OciManifest {
  config: { digest: string };
  layers: { digest: string }[];
}

const blobPath = (digest: string): string => `blobs/sha256/${digest.slice('sha256:'.length)}`;

/** Writes `out`: the OCI tarball `file` plus a docker-archive `manifest.json`; returns the image's config digest. */
export async function dockerArchive(file: string, out: string): Promise<string> {
  const small = new Map<string, Buffer>();
  const extract = tar.extract();
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(`${out}.tmp`));
  extract.on('entry', (header, stream, next) => {
    const chunks: Buffer[] = [];
    const entry = pack.entry(header, (err) => (err ? extract.destroy(err) : next()));
    if ((header.size ?? 0) < 1024 * 1024) stream.on('data', (c: unknown) => {
      chunks.push(c as Buffer);
    });
    stream.on('end', () => small.set(header.name, Buffer.concat(chunks)));
    stream.pipe(entry);
  });
  await pipeline(createReadStream(file), extract);
  const parse = <T>(name: string): T => {
    const bytes = small.get(name);
    if (bytes === undefined) throw new Error(`${file}: no ${name}`);
    return JSON.parse(bytes.toString('utf8')) as T;
  };
  const index = parse<OciIndex>('index.json');
  const first = index.manifests[0];
  if (first === undefined) throw new Error(`${file}: index.json names no image`);
  const manifest = parse<OciManifest>(blobPath(first.digest));
  const tags = index.manifests.flatMap((m) => m.annotations?.['io.containerd.image.name'] ?? []);
  pack.entry(
    { name: 'manifest.json', mode: 0o644 },
    JSON.stringify([
      {
        Config: blobPath(manifest.config.digest),
        RepoTags: tags,
        Layers: manifest.layers.map((l) => blobPath(l.digest)),
      },
    ]),
  );
  pack.finalize();
  await written;
  await rename(`${out}.tmp`, out);
  return manifest.config.digest;
}

/** Loads every image the engine at `host` lacks (or holds with other content). Returns the references loaded. */
export async function ensureDockerImages(
  ctx: StackContext,
  docker: { cli: string; host: string },
  images: readonly LocalImage[],
): Promise<string[]> {
  const loaded: string[] = [];
  for (const image of images) {
    const file = await ensureImageArchive(ctx, image);
    // Converted once per tarball (its name carries its content key) and kept beside it.
    const out = `${file}.docker.tar`;
    const idFile = `${out}.id`;
    const configDigest =
      (await readFile(idFile, 'utf8').catch(() => null))?.trim() ??
      (await dockerArchive(file, out).then(async (id) => (await writeFile(idFile, id), id)));
    const tags = image.tags.map((t) => imageRef(image, t));
    const ids = await Promise.all(
      tags.map((t) =>
        run(docker.cli, ['-H', docker.host, 'image', 'inspect', '--format', '{{.Id}}', t]).then(
          (r) => r.stdout.trim(),
          () => '',
        ),
      ),
    );
    if (ids.every((id) => id === configDigest)) continue;
    await run(docker.cli, ['-H', docker.host, 'load', '-q', '-i', out], { timeoutMs: 10 * 60_000 });
    loaded.push(...tags);
  }
  return loaded;
}
