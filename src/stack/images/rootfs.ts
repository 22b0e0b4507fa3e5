import { copyFile, mkdir, readdir, symlink, writeFile, chmod, lstat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { run } from './exec.js';

/** The unprivileged user every local image runs as (the distroless convention), so `runAsNonRoot` holds. */
export const NONROOT_UID = 65532;

/** Where Debian's `busybox-static` package puts its statically linked binary. */
export const BUSYBOX_STATIC = '/usr/bin/busybox';

/**
 * Writes `/etc/passwd`, `/etc/group`, a home for the non-root user and a world-writable `/tmp`, the minimum a
 * shell, Python and `tar` expect.
 */
export async function writeBaseFiles(rootfs: string): Promise<void> {
  await mkdir(join(rootfs, 'etc'), { recursive: true });
  await writeFile(
    join(rootfs, 'etc/passwd'),
    `root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n` +
      `nonroot:x:${NONROOT_UID}:${NONROOT_UID}:nonroot:/home/nonroot:/bin/sh\n`,
  );
  await writeFile(join(rootfs, 'etc/group'), `root:x:0:\nnogroup:x:65534:\nnonroot:x:${NONROOT_UID}:\n`);
  await mkdir(join(rootfs, 'home/nonroot'), { recursive: true });
  await mkdir(join(rootfs, 'root'), { recursive: true, mode: 0o700 });
  await mkdir(join(rootfs, 'tmp'), { recursive: true });
  await chmod(join(rootfs, 'tmp'), 0o1777);
  for (const d of ['proc', 'sys', 'dev', 'etc', 'var/tmp']) await mkdir(join(rootfs, d), { recursive: true });
  await chmod(join(rootfs, 'var/tmp'), 0o1777);
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Installs the static busybox as `/bin/busybox` with a symlink per applet (all, or only `applets`), leaving files
 * that already exist (e.g. from Debian packages) alone.
 */
export async function installBusybox(rootfs: string, applets?: readonly string[]): Promise<void> {
  await mkdir(join(rootfs, 'bin'), { recursive: true });
  await copyFile(BUSYBOX_STATIC, join(rootfs, 'bin/busybox'));
  await chmod(join(rootfs, 'bin/busybox'), 0o755);
  const { stdout } = await run(BUSYBOX_STATIC, ['--list-full']);
  const wanted = applets ? new Set(applets) : undefined;
  for (const rel of stdout
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean)) {
    const name = rel.split('/').pop() ?? rel;
    if (wanted && !wanted.has(name)) continue;
    const target = join(rootfs, rel);
    if (await exists(target)) continue;
    await mkdir(dirname(target), { recursive: true });
    await symlink('/bin/busybox', target);
  }
}

/** Unpacks Debian packages into the rootfs (`dpkg-deb -x`: data only; maintainer scripts are not run). */
export async function extractDebs(rootfs: string, debDir: string): Promise<string[]> {
  const debs = (await readdir(debDir)).filter((f) => f.endsWith('.deb')).sort();
  for (const deb of debs) await run('dpkg-deb', ['-x', join(debDir, deb), rootfs]);
  return debs;
}

/**
 * Resolves a package's dependency closure for this machine's architecture (`apt-cache depends --recurse`), leaving
 * out `exclude` (packages only needed by maintainer scripts, e.g. perl and dpkg). Returns `name=version` lines,
 * sorted, using the candidate versions of the machine's apt lists.
 *
 * @throws {CommandFailedError} when apt-cache does not know a package (e.g. the apt lists were never fetched).
 */
export async function resolveDebClosure(
  roots: readonly string[],
  exclude: readonly RegExp[],
): Promise<string[]> {
  const { stdout } = await run('apt-cache', [
    'depends',
    '--recurse',
    '--no-recommends',
    '--no-suggests',
    '--no-conflicts',
    '--no-breaks',
    '--no-replaces',
    '--no-enhances',
    ...roots,
  ]);
  const names = [
    ...new Set(
      stdout
        .split('\n')
        .filter((l) => /^[a-z0-9]/.test(l))
        .map((l) => l.trim()),
    ),
  ].filter((n) => !exclude.some((re) => re.test(n)));
  const { stdout: policy } = await run('apt-cache', ['policy', ...names]);
  const versions = new Map<string, string>();
  let current: string | undefined;
  for (const line of policy.split('\n')) {
    const pkg = /^(\S+):$/.exec(line);
    if (pkg) current = pkg[1];
    const cand = /^\s+Candidate:\s+(\S+)/.exec(line);
    if (cand && current) versions.set(current.replace(/:amd64$/, ''), cand[1] ?? '');
  }
  return names
    .map((n) => {
      const v = versions.get(n);
      if (!v || v === '(none)')
        throw new Error(`apt has no installable version of ${n} (run apt-get update?)`);
      return `${n}=${v}`;
    })
    .sort();
}

/**
 * Downloads exact package versions (`apt-get download`) into `dir`.
 *
 * @throws {CommandFailedError} when apt cannot fetch them.
 */
export async function downloadDebs(dir: string, pinned: readonly string[]): Promise<void> {
  await mkdir(dir, { recursive: true });
  await run('apt-get', ['download', '-q', ...pinned], { cwd: dir, timeoutMs: 15 * 60_000 });
}

/** Writes `/etc/ld.so.conf` and builds the dynamic linker cache for the rootfs with the host's `ldconfig -r`. */
export async function buildLdCache(rootfs: string): Promise<void> {
  await writeFile(join(rootfs, 'etc/ld.so.conf'), 'include /etc/ld.so.conf.d/*.conf\n');
  await run('ldconfig', ['-r', rootfs]);
}

/** A wheel from PyPI, pinned to one version and the sha256 of its file. */
export interface PinnedWheel {
  readonly name: string;
  readonly version: string;
  readonly sha256: string;
}

/** The wheels as a pip requirements file in hash-checking mode: one `name==version --hash=sha256:…` a line. */
export function wheelRequirements(wheels: readonly PinnedWheel[]): string {
  return wheels.map((w) => `${w.name}==${w.version} --hash=sha256:${w.sha256}\n`).join('');
}

/**
 * Downloads exact wheels for a Python version (`pip download --only-binary=:all: --no-deps --require-hashes`, with
 * the host's `python3 -m pip`) into `dir`: pip fails unless every file has its pinned hash.
 *
 * @throws {CommandFailedError} when pip cannot fetch them or a hash differs.
 */
export async function downloadWheels(
  dir: string,
  wheels: readonly PinnedWheel[],
  pythonVersion: string,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const requirements = join(dir, 'requirements.txt');
  await writeFile(requirements, wheelRequirements(wheels));
  await run(
    'python3',
    [
      '-m',
      'pip',
      'download',
      '--disable-pip-version-check',
      '--no-input',
      '--no-deps',
      '--only-binary=:all:',
      `--python-version=${pythonVersion}`,
      '--require-hashes',
      '-r',
      requirements,
      '-d',
      dir,
    ],
    { timeoutMs: 10 * 60_000 },
  );
}

/**
 * Unpacks every wheel in `wheelDir` into a site-packages directory, as an installer does for pure-Python wheels
 * (the packages and their `.dist-info`, whose entry points OpenTelemetry reads); a wheel with a `.data` directory
 * (scripts, headers) is refused. Files are made 0644 and
 * directories 0755, whatever the host's umask, so the image's non-root user can read them.
 */
export async function extractWheels(siteDir: string, wheelDir: string): Promise<string[]> {
  const wheels = (await readdir(wheelDir)).filter((f) => f.endsWith('.whl')).sort();
  const unpack = [
    'import os, sys, zipfile',
    'os.umask(0o022)',
    'os.makedirs(sys.argv[1], exist_ok=True)',
    'for w in sys.argv[2:]:',
    '    z = zipfile.ZipFile(w)',
    "    if any(n.split('/')[0].endswith('.data') for n in z.namelist()): sys.exit(w + ': has a .data directory')",
    '    z.extractall(sys.argv[1])',
  ].join('\n');
  await run('python3', ['-c', unpack, siteDir, ...wheels.map((w) => join(wheelDir, w))]);
  return wheels;
}
