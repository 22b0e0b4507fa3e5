import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { defaultBucket, loadS3Config, s3EnvNames, type S3StoreConfig } from '../../storage/config.js';
import { createS3ObjectStore } from '../../storage/s3.js';
import type { Component, ComponentEnv, ComponentStatus, StackContext, UpOutcome } from '../component.js';
import { errorCode } from '../errors.js';
import { ensureGoBinary, type GoBinarySpec } from '../go-build.js';
import { componentDir } from '../paths.js';
import { daemonState, ensureDaemon, httpProbe, stopDaemon, type DaemonRef } from '../process.js';

/** The S3-compatible server (versitygw, posix backend), built from its Go module. */
export const versitygw: GoBinarySpec = {
  name: 'versitygw',
  version: '1.7.0',
  pkg: 'github.com/versity/versitygw/cmd/versitygw',
};

const region = 'us-east-1';
const healthPath = '/health';

const credentialsSchema = z.object({
  accessKeyId: z.string().min(8),
  secretAccessKey: z.string().min(16),
});
type Credentials = z.infer<typeof credentialsSchema>;

/**
 * The root credentials of the local S3 server: generated once per machine and kept (mode 0600) in the state
 * directory, so they are not a well-known pair that any local user could guess, and stay stable across restarts.
 */
async function ensureCredentials(dir: string): Promise<Credentials> {
  const file = join(dir, 'credentials.json');
  await mkdir(dir, { recursive: true });
  const fresh: Credentials = {
    accessKeyId: `ASSAY${randomBytes(8).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64url'),
  };
  try {
    // `wx`: when two processes race, one creates the file and both then read the same pair.
    await writeFile(file, `${JSON.stringify(fresh)}\n`, { flag: 'wx', mode: 0o600 });
    return fresh;
  } catch (err) {
    if (errorCode(err) !== 'EEXIST') throw err;
  }
  return credentialsSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

/**
 * The local S3 server: versitygw with the posix backend (objects are files under the state directory), on loopback,
 * with the bucket created. Left alone when the user sets `ASSAY_S3_ENDPOINT` to their own server.
 */
export class S3Component implements Component {
  readonly name = 's3';
  readonly description = 'S3-compatible object store (versitygw, posix backend) with the Assay bucket';

  /** The endpoint of the S3 server the stack runs. */
  static endpoint(ctx: StackContext): string {
    return `http://127.0.0.1:${ctx.config.s3Port}`;
  }

  /** True when the user points `ASSAY_S3_ENDPOINT` at a server that is not the stack's. */
  static isExternal(ctx: StackContext): boolean {
    const user = ctx.config.userS3Endpoint?.replace(/\/+$/, '');
    if (user === undefined) return false;
    const port = ctx.config.s3Port;
    return ![`http://127.0.0.1:${port}`, `http://localhost:${port}`].includes(user);
  }

  #daemon(ctx: StackContext): DaemonRef {
    return { name: 'versitygw', dir: componentDir(ctx.paths, this.name) };
  }

  /** The store configuration that `env` prints, as the storage module will parse it. */
  async #storeConfig(ctx: StackContext): Promise<S3StoreConfig> {
    return loadS3Config((await this.env(ctx)).vars);
  }

  async up(ctx: StackContext): Promise<UpOutcome> {
    if (S3Component.isExternal(ctx)) {
      ctx.reporter.info(
        `s3: using your server at ${ctx.config.userS3Endpoint} (ASSAY_S3_ENDPOINT); not touching it`,
      );
      return 'external';
    }
    const binary = await ensureGoBinary(ctx, versitygw);
    const dir = componentDir(ctx.paths, this.name);
    const dataDir = join(dir, 'data');
    await mkdir(dataDir, { recursive: true });
    const credentials = await ensureCredentials(dir);
    const endpoint = S3Component.endpoint(ctx);
    // Credentials go in the environment, not argv, where any local user could read them from /proc/<pid>/cmdline.
    const env = Object.fromEntries(
      Object.entries(process.env).filter(([k]) => !k.startsWith('ROOT_') && !k.startsWith('VGW_')),
    );
    const outcome = await ensureDaemon(ctx, {
      ...this.#daemon(ctx),
      component: this.name,
      command: binary,
      args: [
        '--port',
        `127.0.0.1:${ctx.config.s3Port}`,
        '--region',
        region,
        '--health',
        healthPath,
        '--quiet',
        'posix',
        dataDir,
      ],
      env: {
        ...env,
        ROOT_ACCESS_KEY_ID: credentials.accessKeyId,
        ROOT_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      },
      ports: [ctx.config.s3Port],
      ownedExecutableDir: ctx.paths.binDir,
      health: () => httpProbe(`${endpoint}${healthPath}`),
    });
    const store = createS3ObjectStore(await this.#storeConfig(ctx));
    try {
      if (await store.ensureBucket()) ctx.reporter.info(`s3: created bucket ${store.bucket}`);
    } finally {
      store.close();
    }
    ctx.reporter.info(
      `s3: ${outcome === 'reused' ? 'already running' : 'running'} at ${endpoint}, data in ${dataDir}`,
    );
    return outcome;
  }

  async down(ctx: StackContext): Promise<void> {
    if (S3Component.isExternal(ctx)) {
      ctx.reporter.info(`s3: your server at ${ctx.config.userS3Endpoint} is not ours to stop`);
      return;
    }
    const result = await stopDaemon(ctx, this.#daemon(ctx));
    if (result === 'not-running') ctx.reporter.info('s3: not running');
  }

  async status(ctx: StackContext): Promise<ComponentStatus> {
    const external = S3Component.isExternal(ctx);
    const parts: string[] = [];
    let healthy = true;
    if (external) {
      parts.push('your server (ASSAY_S3_ENDPOINT)');
    } else {
      const { state, record } = await daemonState(this.#daemon(ctx));
      if (state === 'running' && record) parts.push(`pid ${record.pid}`);
      else {
        healthy = false;
        parts.push(state === 'absent' ? 'not started' : `not running (stale pidfile: ${state})`);
      }
      const health = await httpProbe(`${S3Component.endpoint(ctx)}${healthPath}`);
      if (health !== true) {
        return {
          healthy: false,
          managed: true,
          address: S3Component.endpoint(ctx),
          detail: [...parts, health].join(', '),
        };
      }
    }
    let config: S3StoreConfig;
    try {
      config = await this.#storeConfig(ctx);
    } catch (err) {
      return { healthy: false, managed: !external, detail: [...parts, String(err)].join(', ') };
    }
    const store = createS3ObjectStore(config);
    try {
      if (await store.bucketExists({ signal: AbortSignal.timeout(3_000) }))
        parts.push(`bucket ${config.bucket}`);
      else {
        healthy = false;
        parts.push(`bucket ${config.bucket} missing`);
      }
    } catch (err) {
      healthy = false;
      parts.push(err instanceof Error ? err.message : String(err));
    } finally {
      store.close();
    }
    return { healthy, managed: !external, address: config.endpoint ?? 'AWS S3', detail: parts.join(', ') };
  }

  async env(ctx: StackContext): Promise<ComponentEnv> {
    if (S3Component.isExternal(ctx)) {
      // Echo the user's own settings, exactly as they set them.
      const vars: Record<string, string> = {};
      for (const name of Object.values(s3EnvNames)) {
        const value = ctx.config.env[name];
        if (value !== undefined && value !== '') vars[name] = value;
      }
      return { vars };
    }
    const credentials = await ensureCredentials(componentDir(ctx.paths, this.name));
    return {
      vars: {
        [s3EnvNames.endpoint]: S3Component.endpoint(ctx),
        [s3EnvNames.region]: region,
        [s3EnvNames.accessKeyId]: credentials.accessKeyId,
        [s3EnvNames.secretAccessKey]: credentials.secretAccessKey,
        [s3EnvNames.bucket]: ctx.config.env[s3EnvNames.bucket] || defaultBucket,
        [s3EnvNames.forcePathStyle]: 'true',
      },
    };
  }
}
