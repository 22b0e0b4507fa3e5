/**
 * `npm run images [-- --containerd] [--no-docker] [--json] [name…]`: builds the deployable images (`./images.ts`;
 * cached under `~/.cache/assay/images`), loads them into the stack's Docker engine (`$ASSAY_DOCKER_HOST`, else the
 * stack's socket) when it runs, and with `--containerd` imports them into the local cluster's containerd. Progress on
 * stderr; a summary (reference, tarball, manifest digest, size) on stdout.
 */
import { stat } from 'node:fs/promises';
import { Command } from 'commander';
import { z } from 'zod';
import { DockerComponent, dockerHostEnv } from '../stack/docker/component.js';
import { ensureDockerImages } from '../stack/docker/images.js';
import { readOciArchiveIndex } from '../stack/images/oci.js';
import { ensureImageArchive, ensureImagesImported, imageRef } from '../stack/images/local-images.js';
import { CLUSTER, kubeLayout } from '../stack/kube/layout.js';
import { createStackContext } from '../stack/stack.js';
import { access } from 'node:fs/promises';
import { deployImages } from './images.js';

const optionsSchema = z.object({
  docker: z.boolean(),
  containerd: z.boolean().default(false),
  json: z.boolean().default(false),
});

/** Debian's CLI speaks the stack's 20.10 engine; any `docker` on PATH otherwise. */
async function dockerCli(): Promise<string> {
  return access('/usr/bin/docker').then(
    () => '/usr/bin/docker',
    () => 'docker',
  );
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('images')
    .description('build the deployable images (worker, temporal-dev, versitygw) and load them')
    .argument('[names...]', 'only these images (worker, temporal-dev, versitygw)')
    .option('--no-docker', 'do not load them into the Docker engine')
    .option('--containerd', "import them into the local cluster's containerd too")
    .option('--json', 'print the summary as JSON')
    .parse(argv);
  const opts = optionsSchema.parse(program.opts());
  const names = program.args;
  const unknown = names.filter((n) => !deployImages.some((i) => i.name === n));
  if (unknown.length > 0)
    throw new Error(`unknown image ${unknown.join(', ')} (worker, temporal-dev, versitygw)`);
  const images = deployImages.filter((i) => names.length === 0 || names.includes(i.name));
  const ctx = createStackContext();
  const summary = [];
  for (const image of images) {
    const started = Date.now();
    const file = await ensureImageArchive(ctx, image);
    const { manifestDigest } = await readOciArchiveIndex(file);
    summary.push({
      ref: imageRef(image),
      file,
      manifestDigest,
      bytes: (await stat(file)).size,
      seconds: Math.round((Date.now() - started) / 100) / 10,
    });
  }
  if (opts.docker) {
    const host = process.env[dockerHostEnv] ?? `unix://${DockerComponent.socket(ctx)}`;
    const loaded = await ensureDockerImages(ctx, { cli: await dockerCli(), host }, images);
    ctx.reporter.info(
      loaded.length > 0 ? `docker (${host}): loaded ${loaded.join(', ')}` : `docker (${host}): up to date`,
    );
  }
  if (opts.containerd) {
    const target = {
      ctr: 'ctr',
      address: kubeLayout(ctx.paths).containerdSocket,
      namespace: CLUSTER.containerdNamespace,
    };
    const imported = await ensureImagesImported(ctx, target, images);
    ctx.reporter.info(
      imported.length > 0 ? `containerd: imported ${imported.join(', ')}` : 'containerd: up to date',
    );
  }
  if (opts.json) process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  else
    for (const s of summary)
      process.stdout.write(
        `${s.ref.padEnd(40)} ${s.manifestDigest}  ${(s.bytes / 1e6).toFixed(1)} MB  ${s.file}\n`,
      );
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`images: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
