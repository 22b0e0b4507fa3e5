import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import tar from 'tar-stream';
import { buildOciArchive, readOciArchiveIndex } from '../../../../src/stack/images/oci.js';

async function untar(buf: Buffer): Promise<Map<string, { header: tar.Header; body: Buffer }>> {
  const entries = new Map<string, { header: tar.Header; body: Buffer }>();
  const extract = tar.extract();
  const done = (async () => {
    for await (const entry of extract) {
      const chunks: Buffer[] = [];
      for await (const c of entry) chunks.push(c as Buffer);
      entries.set(entry.header.name, { header: entry.header, body: Buffer.concat(chunks) });
    }
  })();
  extract.end(buf);
  await done;
  return entries;
}

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('buildOciArchive', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'assay-oci-'));
    const rootfs = join(dir, 'rootfs');
    await mkdir(join(rootfs, 'bin'), { recursive: true });
    await mkdir(join(rootfs, 'home/nonroot'), { recursive: true });
    await writeFile(join(rootfs, 'bin/tool'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    await link(join(rootfs, 'bin/tool'), join(rootfs, 'bin/tool2'));
    await symlink('/bin/tool', join(rootfs, 'bin/sh'));
    await writeFile(join(rootfs, 'home/nonroot/.profile'), 'x');
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes an OCI layout whose digests match its blobs, naming the image for containerd', async () => {
    const refs = ['localhost/assay/demo:1', 'localhost/assay/demo:1.0'];
    const out = join(dir, 'demo.oci.tar');
    const archive = await buildOciArchive({
      rootfs: join(dir, 'rootfs'),
      refs,
      config: { user: '65532:65532', env: ['PATH=/bin'], cmd: ['sh'] },
      ownership: [{ path: '/home/nonroot', uid: 65532, gid: 65532 }],
      outFile: out,
    });
    const files = await untar(await readFile(out));
    expect(JSON.parse(files.get('oci-layout')!.body.toString())).toEqual({ imageLayoutVersion: '1.0.0' });
    const index = JSON.parse(files.get('index.json')!.body.toString()) as {
      manifests: { digest: string; annotations: Record<string, string> }[];
    };
    expect(index.manifests.map((m) => m.annotations['io.containerd.image.name'])).toEqual(refs);
    expect(index.manifests.map((m) => m.annotations['org.opencontainers.image.ref.name'])).toEqual([
      '1',
      '1.0',
    ]);

    for (const [name, { body }] of files) {
      if (name.startsWith('blobs/sha256/') && body.length > 0)
        expect(sha256(body)).toBe(`sha256:${name.slice(13)}`);
    }
    const manifest = JSON.parse(
      files.get(`blobs/sha256/${archive.manifestDigest.slice(7)}`)!.body.toString(),
    ) as {
      config: { digest: string };
      layers: { digest: string; size: number }[];
    };
    const config = JSON.parse(
      files.get(`blobs/sha256/${manifest.config.digest.slice(7)}`)!.body.toString(),
    ) as {
      config: { User: string };
      rootfs: { diff_ids: string[] };
    };
    expect(config.config.User).toBe('65532:65532');
    expect(config.rootfs.diff_ids).toEqual([archive.layerDigest]);
    expect(manifest.layers[0]?.digest).toBe(archive.layerDigest);

    const layer = await untar(files.get(`blobs/sha256/${archive.layerDigest.slice(7)}`)!.body);
    expect(layer.get('bin/tool')?.body.toString()).toBe('#!/bin/sh\necho hi\n');
    expect(layer.get('bin/tool')?.header.mode).toBe(0o755);
    expect(layer.get('bin/tool2')?.header).toMatchObject({ type: 'link', linkname: 'bin/tool' });
    expect(layer.get('bin/sh')?.header).toMatchObject({ type: 'symlink', linkname: '/bin/tool' });
    expect(layer.get('home/nonroot/')?.header).toMatchObject({ type: 'directory', uid: 65532, gid: 65532 });
    expect(layer.get('home/nonroot/.profile')?.header).toMatchObject({ uid: 65532 });
    expect(layer.get('bin/')?.header).toMatchObject({ uid: 0, gid: 0 });

    expect(await readOciArchiveIndex(out)).toEqual({ refs, manifestDigest: archive.manifestDigest });
  });

  it('is reproducible: the same rootfs gives the same digests', async () => {
    const a = await buildOciArchive({
      rootfs: join(dir, 'rootfs'),
      refs: ['x/y:1'],
      config: { user: '1:1', env: [] },
      outFile: join(dir, 'a.tar'),
    });
    const b = await buildOciArchive({
      rootfs: join(dir, 'rootfs'),
      refs: ['x/y:1'],
      config: { user: '1:1', env: [] },
      outFile: join(dir, 'b.tar'),
    });
    expect(b.manifestDigest).toBe(a.manifestDigest);
    expect(b.layerDigest).toBe(a.layerDigest);
  });
});
