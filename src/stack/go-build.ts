import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { access, chmod, constants, cp, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
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
  /**
   * Build `pkg` (default `.`) inside a patched copy of a module version from the Go module proxy instead: the module
   * is downloaded, copied into the build directory, its dependencies vendored (`go mod vendor`), each patch applied
   * in order with `patch -p1 --forward --fuzz=0` from the module root (paths under `vendor/` patch a dependency),
   * then built with `-mod=vendor`. A patch that does not apply exactly fails the build. Fold a hash of the patches
   * into `version` ({@link hashFiles}) so that editing one triggers a build. Excludes `cwd`.
   */
  readonly patchedModule?: PatchedModule;
}

/** A module version from the Go module proxy and the patch files (unified diffs) to build it with. */
export interface PatchedModule {
  /** Module path, e.g. `gvisor.dev/gvisor`. */
  readonly module: string;
  /** Module version, e.g. `v0.0.0-20260905035102-160fafc42237`. */
  readonly ref: string;
  /** Absolute paths of the patch files, applied in this order. */
  readonly patches: readonly string[];
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
  const go = ctx.config.goBinary;

  const log = createWriteStream(logFile, { flags: 'w' });
  ctx.reporter.info(`building ${label} with Go (a few minutes; log: ${logFile})`);
  const started = Date.now();
  const step = (command: string, args: string[], cwd: string, stepEnv = env) =>
    runLogged(ctx, spec, { command, args, cwd, env: stepEnv }, log, logFile, label, started);
  try {
    if (spec.patchedModule) {
      const m = spec.patchedModule;
      // Outside any module, so a go.work or go.mod around the caller cannot change what is downloaded.
      const { stdout } = await step(go, ['mod', 'download', '-json', `${m.module}@${m.ref}`], work);
      const dir = (JSON.parse(stdout) as { Dir?: string }).Dir;
      if (!dir) {
        throw new GoBuildError(
          spec.name,
          spec.version,
          logFile,
          `go mod download named no directory for ${m.module}@${m.ref}`,
        );
      }
      // The module cache is read-only: build in a writable copy.
      const src = join(work, 'src');
      await cp(dir, src, { recursive: true });
      await step('chmod', ['-R', 'u+w', src], work);
      await step(go, ['mod', 'vendor'], src);
      for (const patch of m.patches) {
        const name = patch.split('/').pop() ?? patch;
        await step(
          'patch',
          ['-p1', '--forward', '--batch', '--fuzz=0', '--no-backup-if-mismatch', '-i', patch],
          src,
        ).catch((err: unknown) => {
          throw new GoBuildError(
            spec.name,
            spec.version,
            logFile,
            `patch ${name} does not apply to ${m.module}@${m.ref} (update the patch or the version): ${
              err instanceof GoBuildError ? err.detail : String(err)
            }`,
            { cause: err },
          );
        });
      }
      await step(go, ['build', '-mod=vendor', ...flags, '-o', join(out, binaryName), spec.pkg ?? '.'], src);
    } else if (spec.cwd) {
      await step(go, ['build', ...flags, '-o', join(out, binaryName), spec.pkg ?? '.'], spec.cwd);
    } else {
      if (!spec.pkg)
        throw new GoBuildError(spec.name, spec.version, logFile, 'no package given to go install');
      // Outside any module, so a go.work or go.mod around the caller cannot change what `go install pkg@v` builds.
      await step(go, ['install', ...flags, `${spec.pkg}@${spec.ref ?? `v${spec.version}`}`], work, {
        ...env,
        GOBIN: out,
      });
    }
    ctx.reporter.info(`  ${label} built in ${Math.round((Date.now() - started) / 1000)} s`);
  } finally {
    await new Promise<void>((r) => log.end(r));
  }
}

interface BuildStep {
  readonly command: string;
  readonly args: string[];
  readonly cwd: string;
  readonly env: Record<string, string | undefined>;
}

/**
 * Runs one command of a build with its output in the build log (stdout is also returned), reporting progress every
 * 15 s.
 *
 * @throws {GoBuildError} when it cannot be started or exits non-zero.
 */
async function runLogged(
  ctx: StackContext,
  spec: GoBinarySpec,
  s: BuildStep,
  log: WriteStream,
  logFile: string,
  label: string,
  started: number,
): Promise<{ stdout: string }> {
  log.write(`$ ${s.command} ${s.args.join(' ')}  (in ${s.cwd})\n`);
  let lastLine = '';
  const stdout: Buffer[] = [];
  const child = spawn(s.command, s.args, { cwd: s.cwd, env: s.env, stdio: ['ignore', 'pipe', 'pipe'] });
  const onData = (chunk: Buffer) => {
    log.write(chunk);
    const lines = chunk.toString('utf8').trim().split('\n');
    lastLine = lines[lines.length - 1] ?? lastLine;
  };
  child.stdout.on('data', (chunk: Buffer) => {
    stdout.push(chunk);
    onData(chunk);
  });
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
        notFound && s.command === ctx.config.goBinary
          ? `the Go toolchain "${ctx.config.goBinary}" was not found (install Go 1.24 or newer, or set ASSAY_GO)`
          : notFound
            ? `${s.command} was not found`
            : String(err),
        { cause: err },
      );
    });
    if (code !== 0) {
      const what = s.command === ctx.config.goBinary ? `go ${s.args[0]}` : s.command;
      throw new GoBuildError(spec.name, spec.version, logFile, `${what} exited with ${code}: ${lastLine}`);
    }
    return { stdout: Buffer.concat(stdout).toString('utf8') };
  } finally {
    clearInterval(ticker);
    ctx.signal?.removeEventListener('abort', onAbort);
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
