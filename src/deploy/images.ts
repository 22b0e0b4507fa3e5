/**
 * The deployable images (docs/deploy.md), built offline by the stack's OCI image builder (`src/stack/images`): no base
 * image is pulled, nothing comes from a registry.
 *
 * - `localhost/assay/worker` — Node 24 (the binary of the `node` npm package) with the C libraries it links, the built
 *   JavaScript (`/app/dist/worker.js`, `/app/dist/assay.js`, a prebuilt workflow bundle) and the production
 *   `node_modules`; runs as uid 65532, needs no writable root (only `/tmp`). One image for the worker, `assay
 *   controller` and `assay admission`.
 * - `localhost/assay/temporal-dev` — the Temporal CLI the stack builds (`temporal server start-dev`), alone.
 * - `localhost/assay/versitygw` — the S3 server the stack builds, alone.
 *
 * Every image is one layer with fixed timestamps and sorted entries, so the same inputs give the same digest.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  chmod,
  copyFile,
  cp,
  lstat,
  mkdir,
  readdir,
  readFile,
  realpath,
  rm,
  writeFile,
} from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { ensureGoBinary, hashFiles, type GoBinarySpec } from '../stack/go-build.js';
import { run } from '../stack/images/exec.js';
import type { LocalImage } from '../stack/images/local-images.js';
import { BUSYBOX_STATIC, NONROOT_UID, installBusybox, writeBaseFiles } from '../stack/images/rootfs.js';
import { versitygw } from '../stack/s3/component.js';
import { buildJavaScript } from './build-dist.js';
import { temporalCli } from '../stack/temporal/component.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** Bumped when a recipe below changes in a way its key does not see. */
const RECIPE_VERSION = '1';
const PATH = 'PATH=/usr/local/bin:/usr/bin:/bin';
const nonroot = `${NONROOT_UID}:${NONROOT_UID}`;

const packageJsonSchema = z.object({ version: z.string().min(1), license: z.string().optional() });

/** The project's version (package.json): the worker image's tag. */
export const projectVersion: string = packageJsonSchema.parse(
  JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')),
).version;

/** The `org.opencontainers.image.*` labels every image carries. */
function ociLabels(
  title: string,
  description: string,
  version: string,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    'org.opencontainers.image.title': title,
    'org.opencontainers.image.description': description,
    'org.opencontainers.image.version': version,
    'org.opencontainers.image.licenses': 'Apache-2.0',
    'org.opencontainers.image.vendor': 'Assay',
    'org.opencontainers.image.base.name': 'scratch',
    // The project's version alone names a rebuilt worker too; the content digest tells builds apart.
    'dev.assay.recipe': RECIPE_VERSION,
    ...extra,
  };
}

async function sha256File(path: string): Promise<string> {
  return createHash('sha256')
    .update(await readFile(path))
    .digest('hex');
}

async function* files(root: string, rel = ''): AsyncGenerator<string> {
  for (const name of (await readdir(join(root, rel))).sort()) {
    const child = rel ? `${rel}/${name}` : name;
    const st = await lstat(join(root, child));
    if (st.isDirectory()) yield* files(root, child);
    else yield child;
  }
}

/** A content hash of every file under `dir` (names and bytes). */
async function treeHash(dir: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const rel of files(dir)) {
    hash.update(`${rel}\0`);
    hash.update(await readFile(join(dir, rel)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** The Node binary the image ships: the one of the `node` npm package (a devDependency pinned to Node 24). */
export function nodeBinary(): string {
  return join(repoRoot, 'node_modules/node/bin/node');
}

async function nodeVersion(): Promise<string> {
  return (await run(nodeBinary(), ['--version'])).stdout;
}

/** The shared libraries `ldd` names for the binaries (the loader included), as absolute paths on this machine. */
export async function sharedLibraries(binaries: readonly string[]): Promise<string[]> {
  const libs = new Set<string>();
  for (const bin of binaries) {
    const { stdout, code } = await run('ldd', [bin], { allowFailure: true });
    if (code !== 0) continue; // "not a dynamic executable": static
    for (const line of stdout.split('\n')) {
      const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
      if (m?.[1]) libs.add(m[1]);
    }
  }
  return [...libs].sort();
}

/** Copies each library's content (symlinks resolved) to the same path in the rootfs. */
async function installLibraries(rootfs: string, libs: readonly string[]): Promise<void> {
  for (const lib of libs) {
    const target = join(rootfs, lib);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(await realpath(lib), target);
    await chmod(target, 0o755);
  }
}

/** The core-bridge's native module for this machine (the worker's only native code besides Node). */
function coreBridgeNative(): string {
  const triple = process.arch === 'arm64' ? 'aarch64-unknown-linux-gnu' : 'x86_64-unknown-linux-gnu';
  return join(repoRoot, 'node_modules/@temporalio/core-bridge/releases', triple, 'index.node');
}

/**
 * The directories of the production dependencies (`npm ls --omit=dev`), without those nested in another (copying the
 * outer one copies them).
 */
export async function productionPackages(): Promise<string[]> {
  const { stdout } = await run('npm', ['ls', '--omit=dev', '--all', '--parseable'], {
    cwd: repoRoot,
    allowFailure: true,
  });
  const dirs = stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(join(repoRoot, 'node_modules') + '/'))
    .map((l) => relative(repoRoot, l))
    .sort();
  const unique = [...new Set(dirs)];
  if (unique.length === 0) throw new Error('npm ls --omit=dev listed no production packages (run npm ci)');
  return unique.filter((d) => !unique.some((o) => o !== d && d.startsWith(`${o}/`)));
}

/** Type declarations, source maps and documentation: nothing Node loads. */
const droppedFiles = /\.(d\.[cm]?ts|map|md|markdown)$/i;

/**
 * Copies the production `node_modules`, leaving out the core-bridge's binaries for other platforms and
 * {@link droppedFiles}.
 */
async function installNodeModules(appDir: string): Promise<void> {
  const keep = dirname(coreBridgeNative());
  const releases = join(repoRoot, 'node_modules/@temporalio/core-bridge/releases/');
  for (const dir of await productionPackages()) {
    await cp(join(repoRoot, dir), join(appDir, dir), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => {
        if (droppedFiles.test(src)) return false;
        return !src.startsWith(releases) || keep.startsWith(src) || src.startsWith(keep);
      },
    });
  }
}

/** The worker image: `localhost/assay/worker:<package version>`. */
export const workerImage: LocalImage = {
  name: 'worker',
  tags: [projectVersion],
  async key() {
    const libs = await sharedLibraries([nodeBinary(), coreBridgeNative()]);
    const parts = [
      RECIPE_VERSION,
      projectVersion,
      await sha256File(nodeBinary()),
      ...(await Promise.all(libs.map(async (l) => `${l}=${await sha256File(await realpath(l))}`))),
      await treeHash(join(repoRoot, 'src')),
      await sha256File(join(repoRoot, 'package-lock.json')),
      (await productionPackages()).join(','),
    ];
    return parts.join('\n');
  },
  async build(_ctx, rootfs) {
    await writeBaseFiles(rootfs);
    await mkdir(join(rootfs, 'usr/local/bin'), { recursive: true });
    await copyFile(nodeBinary(), join(rootfs, 'usr/local/bin/node'));
    await chmod(join(rootfs, 'usr/local/bin/node'), 0o755);
    await installLibraries(rootfs, await sharedLibraries([nodeBinary(), coreBridgeNative()]));
    const app = join(rootfs, 'app');
    await installNodeModules(app);
    await buildJavaScript(join(app, 'dist'));
    // `assay …` on PATH (no shell in the image: node runs the script named by the shebang).
    await writeFile(
      join(rootfs, 'usr/local/bin/assay'),
      "#!/usr/local/bin/node\nimport('/app/dist/assay.js');\n",
    );
    await chmod(join(rootfs, 'usr/local/bin/assay'), 0o755);
    await writeFile(
      join(app, 'package.json'),
      `${JSON.stringify({ name: 'assay', version: projectVersion, private: true, type: 'module' })}\n`,
    );
    return {
      config: {
        user: nonroot,
        env: [
          PATH,
          'HOME=/home/nonroot',
          'NODE_ENV=production',
          'ASSAY_WORKFLOW_BUNDLE=/app/dist/workflow-bundle.js',
        ],
        entrypoint: ['/usr/local/bin/node'],
        cmd: ['/app/dist/worker.js'],
        workingDir: '/app',
        labels: ociLabels(
          'assay-worker',
          'The Assay worker (also `assay controller` and `assay admission`: node /app/dist/assay.js)',
          projectVersion,
          { 'dev.assay.node': (await nodeVersion()).trim() },
        ),
      },
      ownership: [{ path: '/home/nonroot', uid: NONROOT_UID, gid: NONROOT_UID }],
    };
  },
};

/** A Go binary on an empty base: the binary, the shared libraries it names (none when static), passwd, /tmp, /data. */
async function goBinaryRootfs(
  rootfs: string,
  binary: string,
  name: string,
  applets: readonly string[],
): Promise<void> {
  await writeBaseFiles(rootfs);
  if (applets.length > 0) await installBusybox(rootfs, applets);
  await rm(join(rootfs, 'home/nonroot'), { recursive: true, force: true });
  await mkdir(join(rootfs, 'usr/local/bin'), { recursive: true });
  await copyFile(binary, join(rootfs, 'usr/local/bin', name));
  await chmod(join(rootfs, 'usr/local/bin', name), 0o755);
  await installLibraries(rootfs, await sharedLibraries([binary]));
  await mkdir(join(rootfs, 'data'), { recursive: true });
}

/**
 * An image of one of the stack's Go binaries (`spec`, built and cached by the stack) installed as
 * `/usr/local/bin/<command>`, run as uid 65532 with its data in `/data`; `applets` of the static busybox beside it
 * (a health check's `wget`), none by default.
 */
function goBinaryImage(
  name: string,
  spec: GoBinarySpec,
  command: string,
  cmd: string[],
  description: string,
  applets: readonly string[] = [],
): LocalImage {
  return {
    name,
    tags: [spec.version],
    async key(ctx) {
      const bin = await ensureGoBinary(ctx, spec);
      const busybox = applets.length > 0 ? await hashFiles([BUSYBOX_STATIC]) : '';
      return `${RECIPE_VERSION}\n${await hashFiles([bin])}\n${(await sharedLibraries([bin])).join(',')}\n${busybox}:${applets.join(',')}`;
    },
    async build(ctx, rootfs) {
      await goBinaryRootfs(rootfs, await ensureGoBinary(ctx, spec), command, applets);
      return {
        config: {
          user: nonroot,
          env: [PATH],
          entrypoint: [`/usr/local/bin/${command}`],
          cmd,
          workingDir: '/data',
          labels: ociLabels(`assay-${name}`, description, spec.version),
        },
        ownership: [{ path: '/data', uid: NONROOT_UID, gid: NONROOT_UID }],
      };
    },
  };
}

/** The Temporal dev server: `localhost/assay/temporal-dev:<CLI version>`, SQLite in `/data`, Web UI on 8233. */
export const temporalDevImage: LocalImage = goBinaryImage(
  'temporal-dev',
  temporalCli,
  'temporal',
  ['server', 'start-dev', '--ip', '0.0.0.0', '--ui-ip', '0.0.0.0', '--db-filename', '/data/temporal.db'],
  `Temporal CLI ${temporalCli.version} dev server (SQLite in /data, Web UI on 8233), for docker-compose.yml`,
);

/** The S3 server: `localhost/assay/versitygw:<version>`, objects in `/data` (posix backend), port 7070. */
export const versitygwImage: LocalImage = goBinaryImage(
  'versitygw',
  versitygw,
  'versitygw',
  ['--port', ':7070', '--health', '/health', 'posix', '/data'],
  `versitygw ${versitygw.version} S3 server (posix backend in /data), for docker-compose.yml`,
  ['wget'],
);

/** Every deployable image, in build order. */
export const deployImages: readonly LocalImage[] = [workerImage, temporalDevImage, versitygwImage];
