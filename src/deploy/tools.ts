/**
 * The deployment tools Assay builds from their Go modules like the stack's other Go components
 * (`src/stack/go-build.ts`): Helm, for the chart in `deploy/helm/assay`, and Docker Compose v2, installed as a Docker
 * CLI plugin for `docker-compose.yml` (docs/deploy.md). Both are cached under `~/.cache/assay/bin/<name>-<version>/`
 * and built on first use.
 */
import { copyFile, chmod, mkdir, readFile, rename, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { StackContext } from '../stack/component.js';
import { ensureGoBinary, type GoBinarySpec } from '../stack/go-build.js';

export const helmVersion = '3.22.0';

/** Helm 3 (`helm.sh/helm/v3/cmd/helm`), static, with its version stamped as `make build` does. */
export const helmSpec: GoBinarySpec = {
  name: 'helm',
  version: helmVersion,
  pkg: 'helm.sh/helm/v3/cmd/helm',
  ldflags: `-s -w -X helm.sh/helm/v3/internal/version.version=v${helmVersion}`,
  env: { CGO_ENABLED: '0' },
};

export const composeVersion = '2.40.3';

/**
 * Docker Compose v2. Its go.mod has `exclude` directives, which `go install pkg@version` refuses ("must not contain
 * directives that would cause it to be interpreted differently than if it were the main module"), so it is built as
 * the main module: the module is downloaded, its dependencies vendored, and `./cmd` built there (go-build's
 * `patchedModule`, with no patch).
 */
export const composeSpec: GoBinarySpec = {
  name: 'docker-compose',
  version: composeVersion,
  pkg: './cmd',
  ldflags: `-s -w -X github.com/docker/compose/v2/internal.Version=v${composeVersion}`,
  env: { CGO_ENABLED: '0' },
  patchedModule: { module: 'github.com/docker/compose/v2', ref: `v${composeVersion}`, patches: [] },
};

/** The cached `helm` binary, built on first use. @throws {GoBuildError} when the build fails. */
export function ensureHelm(ctx: StackContext): Promise<string> {
  return ensureGoBinary(ctx, helmSpec);
}

/** The Docker CLI's per-user plugin directory (`$DOCKER_CONFIG/cli-plugins`, default `~/.docker/cli-plugins`). */
export function cliPluginsDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(env.DOCKER_CONFIG || join(homedir(), '.docker'), 'cli-plugins');
}

/**
 * Builds Compose when it is not cached and installs it as the `docker compose` CLI plugin (a copy, replaced when it
 * differs). Returns the installed plugin's path.
 *
 * @throws {GoBuildError} when the build fails.
 */
export async function ensureComposePlugin(
  ctx: StackContext,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<string> {
  const built = await ensureGoBinary(ctx, composeSpec);
  const dir = cliPluginsDir(env);
  const plugin = join(dir, 'docker-compose');
  const current = await stat(plugin).catch(() => null);
  const source = await stat(built);
  if (current?.size === source.size && (await readFile(plugin)).equals(await readFile(built))) return plugin;
  await mkdir(dir, { recursive: true });
  await copyFile(built, `${plugin}.tmp`);
  await chmod(`${plugin}.tmp`, 0o755);
  await rename(`${plugin}.tmp`, plugin);
  ctx.reporter.info(`installed docker compose v${composeVersion} as ${plugin}`);
  return plugin;
}
