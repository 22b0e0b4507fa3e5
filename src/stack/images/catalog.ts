import { createHash } from 'node:crypto';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StackContext } from '../component.js';
import { ensureGoBinary, hashFiles } from '../go-build.js';
import { run } from './exec.js';
import type { ImageBuildResult, LocalImage } from './local-images.js';
import {
  BUSYBOX_STATIC,
  NONROOT_UID,
  buildLdCache,
  downloadDebs,
  downloadWheels,
  extractDebs,
  extractWheels,
  installBusybox,
  type PinnedWheel,
  resolveDebClosure,
  wheelRequirements,
  writeBaseFiles,
} from './rootfs.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const pauseModule = join(repoRoot, 'deploy/local/pause');
const nonroot = `${NONROOT_UID}:${NONROOT_UID}`;
const homeOwnership = [{ path: '/home/nonroot', uid: NONROOT_UID, gid: NONROOT_UID }];
const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

async function busyboxHash(): Promise<string> {
  return createHash('sha256')
    .update(await readFile(BUSYBOX_STATIC))
    .digest('hex');
}

async function pauseBinary(ctx: StackContext): Promise<string> {
  const version = await hashFiles([join(pauseModule, 'go.mod'), join(pauseModule, 'main.go')]);
  return ensureGoBinary(ctx, {
    name: 'pause',
    version,
    cwd: pauseModule,
    ldflags: '-s -w',
    env: { CGO_ENABLED: '0' },
  });
}

/** The pod sandbox image (what containerd's CRI runs as each pod's first process), from `deploy/local/pause`. */
export const pauseImage: LocalImage = {
  name: 'pause',
  tags: ['3.10'],
  async key(ctx) {
    return hashFiles([await pauseBinary(ctx)]);
  },
  async build(ctx, rootfs) {
    await copyFile(await pauseBinary(ctx), join(rootfs, 'pause'));
    return { config: { user: '65535:65535', env: [PATH], entrypoint: ['/pause'] } };
  },
};

/** A shell and the core utilities: Debian's statically linked busybox with one symlink per applet. */
export const busyboxImage: LocalImage = {
  name: 'busybox',
  tags: ['1.35', '1'],
  key: busyboxHash,
  async build(_ctx, rootfs) {
    await writeBaseFiles(rootfs);
    await installBusybox(rootfs);
    return {
      config: { user: nonroot, env: [PATH, 'HOME=/home/nonroot'], cmd: ['sh'], workingDir: '/home/nonroot' },
      ownership: homeOwnership,
    };
  },
};

const collectorApplets = [
  'sh',
  'ash',
  'tar',
  'gzip',
  'gunzip',
  'cat',
  'ls',
  'mkdir',
  'rm',
  'mv',
  'cp',
  'sleep',
  'test',
  '[',
  '[[',
  'true',
  'false',
  'find',
  'stat',
  'du',
  'wc',
  'sha256sum',
  'env',
  'echo',
  'printf',
  'kill',
  'touch',
  'date',
  'head',
  'tail',
];

/**
 * The artifact sidecar: a shell and `tar` (busybox applets) and nothing else. By default it idles, keeping the pod
 * alive after `main` exits so the workflow can `exec tar` the shared volumes out.
 */
export const collectorImage: LocalImage = {
  name: 'collector',
  tags: ['1'],
  async key() {
    return `${await busyboxHash()}\0${collectorApplets.join(',')}`;
  },
  async build(_ctx, rootfs) {
    await writeBaseFiles(rootfs);
    await installBusybox(rootfs, collectorApplets);
    return {
      config: {
        user: nonroot,
        env: [PATH, 'HOME=/home/nonroot'],
        cmd: ['sh', '-c', 'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done'],
        workingDir: '/home/nonroot',
      },
      ownership: homeOwnership,
    };
  },
};

const pythonRoots = ['python3'];
/** Needed only by maintainer scripts or documentation tooling, which never run in the image. */
const pythonExcluded = [
  /^dpkg$/,
  /^install-info$/,
  /^perl/,
  /^libperl/,
  /^mailcap$/,
  /^mime-support$/,
  /^tar$/,
];

async function pythonPackages(): Promise<string[]> {
  try {
    return await resolveDebClosure(pythonRoots, pythonExcluded);
  } catch {
    // A fresh machine may never have fetched its apt lists.
    await run('apt-get', ['update', '-q'], {
      env: { DEBIAN_FRONTEND: 'noninteractive' },
      timeoutMs: 10 * 60_000,
    });
    return resolveDebClosure(pythonRoots, pythonExcluded);
  }
}

/**
 * Fills `rootfs` with the python image's content and returns its runtime config: the python image's build, which the
 * images based on it start from.
 */
async function buildPythonRootfs(
  ctx: StackContext,
  rootfs: string,
  workDir: string,
): Promise<ImageBuildResult> {
  const debDir = join(workDir, 'debs');
  const packages = await pythonPackages();
  ctx.reporter.info(`  downloading ${packages.length} Debian packages for the python image`);
  await downloadDebs(debDir, packages);
  await extractDebs(rootfs, debDir);
  await writeBaseFiles(rootfs);
  await installBusybox(rootfs);
  await symlink('python3', join(rootfs, 'usr/bin/python')).catch(() => undefined);
  await buildLdCache(rootfs);
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(join(rootfs, 'etc/assay-image-packages.txt'), `${packages.join('\n')}\n`);
  return {
    config: {
      user: nonroot,
      env: [PATH, 'HOME=/home/nonroot', 'LANG=C.UTF-8', 'PYTHONDONTWRITEBYTECODE=1', 'PYTHONUNBUFFERED=1'],
      cmd: ['python3'],
      workingDir: '/home/nonroot',
    },
    ownership: homeOwnership,
  };
}

/**
 * A real CPython 3 from Debian's packages (the dependency closure of `python3`, unpacked with `dpkg-deb -x`), plus
 * busybox for a shell. Cached by the exact package versions, so it is downloaded and built once per machine.
 */
export const pythonImage: LocalImage = {
  name: 'python',
  tags: ['3.11', '3'],
  async key() {
    return `${(await pythonPackages()).join('\n')}\0${await busyboxHash()}`;
  },
  build: buildPythonRootfs,
};

/**
 * OpenTelemetry's Python API and SDK with everything they need on Debian 12's Python 3.11, as exact wheels (all
 * pure Python) and their sha256, which pip checks. On Python 3.10 and later these versions need neither
 * importlib-metadata nor zipp (their METADATA asks only for typing-extensions), so the closure is these four.
 */
export const otelWheels: readonly PinnedWheel[] = [
  {
    name: 'opentelemetry-api',
    version: '1.45.2',
    sha256: '2cbd737377e710ee740d261c94e93fa0f08e6d037c18f17513cc0a2d94479a34',
  },
  {
    name: 'opentelemetry-sdk',
    version: '1.45.2',
    sha256: 'ff974ea70ee4f1d51e2ec152db37c2b626c7bf82bb3f7d86114fd8704e7199c6',
  },
  {
    name: 'opentelemetry-semantic-conventions',
    version: '0.66b2',
    sha256: '4cbe61e5f9275d57ab31708446e7938ef4291ebbe6a7fca6f7a629c5acae87d8',
  },
  {
    name: 'typing-extensions',
    version: '4.16.0',
    sha256: '481caa481374e813c1b176ada14e97f1f67a4539ce9cfeb3f350d78d6370c2e8',
  },
];

/** Where Debian's python3 looks for packages that are not part of the standard library. */
const debianSitePackages = 'usr/lib/python3/dist-packages';

/**
 * The python image plus OpenTelemetry's Python API and SDK (`otelWheels`, unpacked into Debian's dist-packages), so
 * an evaluation can continue the caller's trace (examples/traced). Cached by the python image's key and the pins.
 */
export const pythonOtelImage: LocalImage = {
  name: 'python-otel',
  tags: ['3.11', '3'],
  async key(ctx) {
    return `${await pythonImage.key(ctx)}\0${debianSitePackages}\0${wheelRequirements(otelWheels)}`;
  },
  async build(ctx, rootfs, workDir) {
    const result = await buildPythonRootfs(ctx, rootfs, workDir);
    ctx.reporter.info(`  downloading ${otelWheels.length} wheels for the python-otel image`);
    const wheelDir = join(workDir, 'wheels');
    await downloadWheels(wheelDir, otelWheels, '3.11');
    await extractWheels(join(rootfs, debianSitePackages), wheelDir);
    await writeFile(join(rootfs, 'etc/assay-image-wheels.txt'), wheelRequirements(otelWheels));
    return result;
  },
};

/** Every image the local cluster provides, the sandbox image first. */
export const localImages: readonly LocalImage[] = [
  pauseImage,
  busyboxImage,
  pythonImage,
  collectorImage,
  pythonOtelImage,
];
