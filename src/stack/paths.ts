import { homedir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Where the local stack keeps things on this machine. Everything lives under one cache root so that deleting it
 * resets the machine, and so that a second checkout of the project reuses the same built binaries and the same
 * running servers.
 *
 * Layout:
 * ```
 * <root>/bin/<name>-<version>/<binary>   built binaries, one directory per name and version (never rebuilt)
 * <root>/build/                          temporary build directories, renamed into bin/ when a build succeeds
 * <root>/logs/                           build logs
 * <root>/locks/                          lock files (builds, stack up/down)
 * <root>/stack/<component>/              per-component state: pidfiles, daemon logs, data
 * ```
 */
export interface StackPaths {
  readonly root: string;
  readonly binDir: string;
  readonly buildDir: string;
  readonly logsDir: string;
  readonly locksDir: string;
  readonly stateDir: string;
}

/** The default cache root when `ASSAY_CACHE_DIR` is not set. */
export function defaultCacheRoot(home: string = homedir()): string {
  return join(home, '.cache', 'assay');
}

/** Resolves the stack's directory layout under a cache root (`ASSAY_CACHE_DIR`, default `~/.cache/assay`). */
export function stackPaths(cacheRoot: string = defaultCacheRoot()): StackPaths {
  const root = resolve(cacheRoot);
  return {
    root,
    binDir: join(root, 'bin'),
    buildDir: join(root, 'build'),
    logsDir: join(root, 'logs'),
    locksDir: join(root, 'locks'),
    stateDir: join(root, 'stack'),
  };
}

/** The state directory of one component, e.g. `<root>/stack/temporal`. */
export function componentDir(paths: StackPaths, component: string): string {
  return join(paths.stateDir, component);
}

/** The directory a built binary is cached in, keyed by name and version. */
export function binaryDir(paths: StackPaths, name: string, version: string): string {
  return join(paths.binDir, `${name}-${version}`);
}
