import { access, chmod, constants, copyFile, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackContext } from '../../src/stack/component.js';
import { createStackContext } from '../../src/stack/stack.js';
import { ensureGoBinary, hashFiles } from '../../src/stack/go-build.js';
import { binaryDir, stackPaths } from '../../src/stack/paths.js';
import { run } from '../../src/stack/images/exec.js';
import { ensureImagesImported, imageRef, type LocalImage } from '../../src/stack/images/local-images.js';
import { writeBaseFiles } from '../../src/stack/images/rootfs.js';
import { CLUSTER, kubeLayout } from '../../src/stack/kube/layout.js';

// Builds the Argo Workflows peer for bench/peers/argo.ts: `workflow-controller` and `argoexec` from the Go module,
// cached under <cache>/peers/argo (never rebuilt when cached), and an argoexec image imported into the local
// cluster's containerd with the stack's own image builder.

export const ARGO_MODULE = 'github.com/argoproj/argo-workflows/v4';
/** Pinned so the cache key is stable; `@latest` resolved to it when this bench was written. */
export const ARGO_VERSION = 'v4.0.5';

export interface ArgoPeer {
  readonly version: string;
  readonly controller: string;
  readonly argoexec: string;
  /** The argoexec image, imported into the cluster's containerd. */
  readonly executorImage: string;
  /** The module's source directory in the module cache (manifests are read from it). */
  readonly moduleDir: string;
}

/** The stack context, with its cache root moved to `<cache>/peers/argo` so nothing mixes with the stack's builds. */
async function peerContext(stack: StackContext): Promise<StackContext> {
  const paths = stackPaths(join(stack.config.cacheRoot, 'peers', 'argo'));
  await mkdir(paths.root, { recursive: true });
  // The stack may still be building on the same 2 cores: the peer's Go builds run at the lowest priority.
  const niceGo = join(paths.root, 'go-nice');
  await writeFile(niceGo, `#!/bin/sh\nexec nice -n 19 ${stack.config.goBinary} "$@"\n`);
  await chmod(niceGo, 0o755);
  return { ...stack, paths, config: { ...stack.config, goBinary: niceGo } };
}

async function isExecutable(path: string): Promise<boolean> {
  return access(path, constants.X_OK).then(
    () => true,
    () => false,
  );
}

async function moduleDir(ctx: StackContext, version: string): Promise<string> {
  const work = await mkdtemp(join(ctx.paths.root, 'mod-'));
  try {
    // Outside any module, so a go.work or go.mod around the caller cannot change what is downloaded.
    const { stdout } = await run(
      ctx.config.goBinary,
      ['mod', 'download', '-json', `${ARGO_MODULE}@${version}`],
      {
        cwd: work,
        timeoutMs: 10 * 60_000,
      },
    );
    const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
    if (!dir) throw new Error(`go mod download ${ARGO_MODULE}@${version} returned no Dir`);
    return dir;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * A writable copy of the module with `signal_linux.go` restored: upstream it is a symlink to `signal_darwin.go`,
 * and module zips drop symlinks, so `go install …/cmd/argoexec@version` fails with `undefined: Setpgid`.
 */
async function patchedSource(ctx: StackContext, dir: string): Promise<string> {
  const src = await mkdtemp(join(ctx.paths.root, 'src-'));
  await cp(dir, src, { recursive: true });
  await run('chmod', ['-R', 'u+w', src]);
  const os = join(src, 'workflow/executor/osspecific');
  await copyFile(join(os, 'signal_darwin.go'), join(os, 'signal_linux.go'));
  return src;
}

/**
 * Returns the cached Argo binaries and makes sure the argoexec image is in the cluster's containerd, building what
 * is missing.
 *
 * @throws when Go, the module proxy or containerd fail (the message names the build log).
 */
export async function ensureArgoPeer(version: string = ARGO_VERSION): Promise<ArgoPeer> {
  const stack = createStackContext();
  const ctx = await peerContext(stack);
  const dir = await moduleDir(ctx, version);
  const plain = version.replace(/^v/, '');
  const ldflags = `-s -w -X ${ARGO_MODULE}.version=${version}`;
  let src: string | undefined;
  const source = async (): Promise<string> => (src ??= await patchedSource(ctx, dir));
  try {
    const build = async (name: string): Promise<string> => {
      const spec = { name, version: plain, pkg: `./cmd/${name}`, ldflags, env: { CGO_ENABLED: '0' } };
      // The patched copy of the module is made only when a binary is missing.
      const cached = join(binaryDir(ctx.paths, name, plain), name);
      if (await isExecutable(cached)) return cached;
      return ensureGoBinary(ctx, { ...spec, cwd: await source() });
    };
    const controller = await build('workflow-controller');
    const argoexec = await build('argoexec');

    const image: LocalImage = {
      name: 'argoexec',
      tags: [version],
      key: async () => `${version}\0${await hashFiles([argoexec])}`,
      async build(_ctx, rootfs) {
        await writeBaseFiles(rootfs);
        await mkdir(join(rootfs, 'bin'), { recursive: true });
        await copyFile(argoexec, join(rootfs, 'bin/argoexec'));
        await chmod(join(rootfs, 'bin/argoexec'), 0o755);
        await writeFile(join(rootfs, 'etc/nsswitch.conf'), 'hosts: files dns\n');
        return {
          config: {
            user: '8737:8737',
            env: ['PATH=/bin:/usr/bin', 'HOME=/tmp'],
            entrypoint: ['argoexec'],
            workingDir: '/',
          },
        };
      },
    };
    const l = kubeLayout(stack.paths);
    await ensureImagesImported(
      ctx,
      { ctr: 'ctr', address: l.containerdSocket, namespace: CLUSTER.containerdNamespace },
      [image],
    );
    return { version, controller, argoexec, executorImage: imageRef(image), moduleDir: dir };
  } finally {
    if (src) await rm(src, { recursive: true, force: true });
  }
}
