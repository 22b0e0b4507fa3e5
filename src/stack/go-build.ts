import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { access, chmod, constants, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackContext } from './component.js';
import { errorCode, GoBuildError } from './errors.js';
import { withFileLock } from './lock.js';
import { binaryDir } from './paths.js';

/** A Go program the stack needs, identified by name and version. */
export interface GoBinarySpec {
  /** Cache key and log name, e.g. `temporal`. */
  readonly name: string;
  /**
   * Cache key: a cached `<name>-<version>` is never rebuilt. For a wrapper module in this repository, fold a hash of
   * its sources into the version (see {@link hashFiles}) so that editing it triggers a build.
   */
  readonly version: string;
  /**
   * The package to build. Without `cwd`: a module path installed with `go install <pkg>@<ref>`
   * (e.g. `github.com/temporalio/cli/cmd/temporal`). With `cwd`: a package of that module, default `.`.
   */
  readonly pkg?: string;
  /** The module version for `go install`, default `v<version>`. Ignored with `cwd`. */
  readonly ref?: string;
  /** File name of the produced binary, default `name`. */
  readonly binary?: string;
  /** `-ldflags` value, e.g. `-s -w` or `-X main.version=…`. */
  readonly ldflags?: string;
  readonly tags?: readonly string[];
  /** A wrapper module's directory: builds with `go build -o` there instead of `go install`. */
  readonly cwd?: string;
  /** Extra environment for the build, e.g. `{ CGO_ENABLED: '0' }`. */
  readonly env?: Readonly<Record<string, string>>;
}

const progressEveryMs = 15_000;

/**
 * Returns the path of a cached Go binary, building it first when it is not cached.
 *
 * The build runs in a temporary directory and is renamed into `<cache>/bin/<name>-<version>/` only when it succeeded,
 * so a killed build never leaves a half-written binary behind. A per-binary file lock makes concurrent callers (two
 * `stack up`s, two Jest projects) wait for one build instead of building twice. Output goes to
 * `<cache>/logs/build-<name>-<version>.log`; a progress line is reported every 15 s.
 *
 * @throws {GoBuildError} when Go is missing or the build fails (the message names the log file).
 */
export async function ensureGoBinary(ctx: StackContext, spec: GoBinarySpec): Promise<string> {
  const binaryName = spec.binary ?? spec.name;
  const dir = binaryDir(ctx.paths, spec.name, spec.version);
  const target = join(dir, binaryName);
  if (await isExecutable(target)) return target;

  const label = `${spec.name} ${spec.version}`;
  return withFileLock(
    join(ctx.paths.locksDir, `build-${spec.name}-${spec.version}`),
    async () => {
      // Someone else may have finished the build while we waited for the lock.
      if (await isExecutable(target)) return target;
      await mkdir(ctx.paths.buildDir, { recursive: true });
      await mkdir(ctx.paths.logsDir, { recursive: true });
      const work = await mkdtemp(join(ctx.paths.buildDir, `${spec.name}-${spec.version}-`));
      const logFile = join(ctx.paths.logsDir, `build-${spec.name}-${spec.version}.log`);
      try {
        const out = join(work, 'out');
        await mkdir(out);
        await runGoBuild(ctx, spec, work, out, binaryName, logFile, label);
        const built = join(out, binaryName);
        if (!(await isExecutable(built))) {
          throw new GoBuildError(spec.name, spec.version, logFile, `the build produced no ${binaryName}`);
        }
        await chmod(built, 0o755);
        // A directory without the binary can only be debris (we create it by rename); clear it so rename succeeds.
        await rm(dir, { recursive: true, force: true });
        await mkdir(ctx.paths.binDir, { recursive: true });
        await rename(out, dir);
        ctx.reporter.info(`built ${label} → ${target}`);
        return target;
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    },
    {
      onWait: () => ctx.reporter.info(`waiting for another process that is building ${label}`),
      ...(ctx.signal ? { signal: ctx.signal } : {}),
    },
  );
}

async function runGoBuild(
  ctx: StackContext,
  spec: GoBinarySpec,
  work: string,
  out: string,
  binaryName: string,
  logFile: string,
  label: string,
): Promise<void> {
  // -v lists packages as they compile: the log, and the progress line, show that a long build is moving.
  const flags: string[] = ['-v', '-trimpath'];
  if (spec.ldflags) flags.push(`-ldflags=${spec.ldflags}`);
  if (spec.tags?.length) flags.push(`-tags=${spec.tags.join(',')}`);
  const env: Record<string, string | undefined> = { ...process.env, ...spec.env };
  let args: string[];
  let cwd: string;
  if (spec.cwd) {
    args = ['build', ...flags, '-o', join(out, binaryName), spec.pkg ?? '.'];
    cwd = spec.cwd;
  } else {
    if (!spec.pkg) throw new GoBuildError(spec.name, spec.version, logFile, 'no package given to go install');
    args = ['install', ...flags, `${spec.pkg}@${spec.ref ?? `v${spec.version}`}`];
    env.GOBIN = out;
    // Outside any module, so a go.work or go.mod around the caller cannot change what `go install pkg@v` builds.
    cwd = work;
  }

  const log = createWriteStream(logFile, { flags: 'w' });
  log.write(`$ ${ctx.config.goBinary} ${args.join(' ')}  (in ${cwd})\n`);
  ctx.reporter.info(`building ${label} with Go (a few minutes; log: ${logFile})`);
  const started = Date.now();
  let lastLine = '';
  const child = spawn(ctx.config.goBinary, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const lines = chunk.toString('utf8').trim().split('\n');
    lastLine = lines[lines.length - 1] ?? lastLine;
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const ticker = setInterval(() => {
    const secs = Math.round((Date.now() - started) / 1000);
    ctx.reporter.info(
      `  still building ${label} (${secs} s)${lastLine ? `: ${lastLine.slice(0, 100)}` : ''}`,
    );
  }, progressEveryMs);
  const onAbort = () => child.kill('SIGTERM');
  ctx.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const code = await new Promise<number | null>((resolvePromise, reject) => {
      child.on('error', reject);
      child.on('close', (c) => resolvePromise(c));
    }).catch((err: unknown) => {
      const notFound = errorCode(err) === 'ENOENT';
      throw new GoBuildError(
        spec.name,
        spec.version,
        logFile,
        notFound
          ? `the Go toolchain "${ctx.config.goBinary}" was not found (install Go 1.24 or newer, or set ASSAY_GO)`
          : String(err),
        { cause: err },
      );
    });
    if (code !== 0) {
      throw new GoBuildError(
        spec.name,
        spec.version,
        logFile,
        `go ${args[0]} exited with ${code}: ${lastLine}`,
      );
    }
    ctx.reporter.info(`  ${label} built in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    clearInterval(ticker);
    ctx.signal?.removeEventListener('abort', onAbort);
    await new Promise<void>((r) => log.end(r));
  }
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * A short content hash of files, for the `version` of a wrapper module built from this repository
 * (e.g. `hashFiles([go.mod, go.sum, main.go])`), so the cache key changes when the sources do.
 */
export async function hashFiles(paths: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const p of [...paths].sort()) {
    hash.update(p.split('/').pop() ?? p);
    hash.update('\0');
    hash.update(await readFile(p));
    hash.update('\0');
  }
  return hash.digest('hex').slice(0, 12);
}
