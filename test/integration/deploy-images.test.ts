/**
 * The deployable images (`npm run images`, src/deploy/images.ts): built twice from the same inputs they are the same
 * bytes; they carry the OCI labels and run as uid 65532; the worker image loads into the stack's Docker engine and
 * runs Node 24 and its CLI as uid 65532 on a read-only root with no network. Sizes are printed (`measure: image …`).
 */
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import tar from 'tar-stream';
import { createReadStream } from 'node:fs';
import { deployImages, versitygwImage, workerImage } from '../../src/deploy/images.js';
import { dockerHostEnv } from '../../src/stack/docker/component.js';
import { ensureDockerImages } from '../../src/stack/docker/images.js';
import { run } from '../../src/stack/images/exec.js';
import { ensureImageArchive, imageRef } from '../../src/stack/images/local-images.js';
import { buildOciArchive } from '../../src/stack/images/oci.js';
import { createStackContext } from '../../src/stack/stack.js';

const ctx = createStackContext();
const dockerHost = process.env[dockerHostEnv] ?? '';
const docker = (...args: string[]) =>
  run('/usr/bin/docker', ['-H', dockerHost, ...args], { timeoutMs: 120_000 });

interface OciConfig {
  config: {
    User: string;
    Entrypoint?: string[];
    Cmd?: string[];
    Env: string[];
    Labels: Record<string, string>;
  };
}

/** The image config blob of an OCI layout tarball. */
async function ociConfig(file: string): Promise<OciConfig> {
  const blobs = new Map<string, Buffer>();
  const extract = tar.extract();
  createReadStream(file).pipe(extract);
  for await (const entry of extract) {
    const chunks: Buffer[] = [];
    if ((entry.header.size ?? 0) < 1_000_000) for await (const c of entry) chunks.push(c as Buffer);
    else entry.resume();
    blobs.set(entry.header.name, Buffer.concat(chunks));
  }
  const json = <T>(name: string): T => JSON.parse((blobs.get(name) ?? Buffer.from('null')).toString()) as T;
  const index = json<{ manifests: { digest: string }[] }>('index.json');
  const manifest = json<{ config: { digest: string } }>(
    `blobs/sha256/${index.manifests[0]?.digest.slice(7) ?? ''}`,
  );
  return json<OciConfig>(`blobs/sha256/${manifest.config.digest.slice(7)}`);
}

let work: string;
const files = new Map<string, string>();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'assay-images-'));
  for (const image of deployImages) files.set(image.name, await ensureImageArchive(ctx, image));
}, 15 * 60_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('the deployable images', () => {
  it('are the same bytes when built again from the same inputs', async () => {
    const digests: string[] = [];
    for (const n of [1, 2]) {
      const rootfs = join(work, `rootfs-${n}`);
      await mkdir(rootfs);
      const built = await versitygwImage.build(ctx, rootfs, work);
      const archive = await buildOciArchive({
        rootfs,
        refs: [imageRef(versitygwImage)],
        config: built.config,
        ownership: built.ownership ?? [],
        outFile: join(work, `versitygw-${n}.oci.tar`),
      });
      digests.push(archive.manifestDigest);
    }
    expect(digests[0]).toBe(digests[1]);
    const sha = async (f: string) =>
      createHash('sha256')
        .update(await readFile(f))
        .digest('hex');
    expect(await sha(join(work, 'versitygw-1.oci.tar'))).toBe(await sha(join(work, 'versitygw-2.oci.tar')));
  }, 120_000);

  it('carry the org.opencontainers.image labels and run as uid 65532', async () => {
    for (const image of deployImages) {
      const file = files.get(image.name) ?? '';
      const { config } = await ociConfig(file);
      expect(config.User).toBe('65532:65532');
      expect(config.Labels).toMatchObject({
        'org.opencontainers.image.title': `assay-${image.name}`,
        'org.opencontainers.image.version': image.tags[0],
        'org.opencontainers.image.licenses': 'Apache-2.0',
      });
      process.stderr.write(
        `measure: image ${imageRef(image)} ${((await stat(file)).size / 1e6).toFixed(1)} MB (uncompressed layer tarball)\n`,
      );
    }
    const worker = (await ociConfig(files.get('worker') ?? '')).config;
    expect(worker.Entrypoint).toEqual(['/usr/local/bin/node']);
    expect(worker.Cmd).toEqual(['/app/dist/worker.js']);
    expect(worker.Env).toContain('ASSAY_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js');
  });

  it('the worker image loads into the Docker engine and runs on a read-only root with no network', async () => {
    await ensureDockerImages(ctx, { cli: '/usr/bin/docker', host: dockerHost }, [
      workerImage,
      versitygwImage,
    ]);
    const base = ['run', '--rm', '--read-only', '--network', 'none', '--cap-drop', 'ALL', '--tmpfs', '/tmp'];
    // `assay` is a node script on PATH (no shell in the image); compose.test.ts runs the worker itself.
    const help = await docker(...base, '--entrypoint', 'assay', imageRef(workerImage), '--help');
    expect(help.stdout).toContain('run');
    const node = await docker(
      ...base,
      imageRef(workerImage),
      '-e',
      'console.log(process.version, process.getuid())',
    );
    expect(node.stdout.trim()).toMatch(/^v24\.\d+\.\d+ 65532$/);
  }, 180_000);
});
