/**
 * The stack's Docker engine (docs/architecture.md, "The local stack"; docs/migration.md): Debian's `docker.io`,
 * installed when missing, its `dockerd` started on its own socket, data root and exec root under
 * `~/.cache/assay/stack/docker`, with its own managed containerd, no bridge (`--bridge=none`: evaluation containers
 * run with `NetworkMode: none`, so nothing needs one) and no iptables rules (`--iptables=false`, so it never touches
 * the chains kube-proxy and kube-router own). The local images come from the same OCI tarballs the cluster imports.
 */
import { access, mkdir, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import type { Component, ComponentEnv, ComponentStatus, StackContext, UpOutcome } from '../component.js';
import { busyboxImage, collectorImage, pythonImage } from '../images/catalog.js';
import { run } from '../images/exec.js';
import { componentDir } from '../paths.js';
import { daemonState, ensureDaemon, stopDaemon, type DaemonRef } from '../process.js';
import { ensureDockerImages } from './images.js';
import { installDebianPackages } from '../kube/host.js';

const dockerd = '/usr/sbin/dockerd';
/** Debian's CLI, by full path: another `docker` may come first on PATH. */
const dockerCli = '/usr/bin/docker';

/** The environment variable naming the stack's engine (`unix://…`), for the worker's docker cluster and the tests. */
export const dockerHostEnv = 'ASSAY_DOCKER_HOST';

function ping(socket: string): Promise<true | string> {
  return new Promise((resolve) => {
    const req = request({ socketPath: socket, path: '/_ping', timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200 ? true : `/_ping answered ${res.statusCode ?? '?'}`);
    });
    req.on('error', (err) => resolve(err.message));
    req.on('timeout', () => req.destroy(new Error('/_ping timed out')));
    req.end();
  });
}

async function installed(): Promise<boolean> {
  return await access(dockerd)
    .then(
      () => access(dockerCli).then(() => true),
      () => false,
    )
    .catch(() => false);
}

export class DockerComponent implements Component {
  readonly name = 'docker';
  readonly description = "Docker engine (Debian's docker.io) on its own socket, for the Docker executor";

  static socket(ctx: StackContext): string {
    return join(componentDir(ctx.paths, 'docker'), 'docker.sock');
  }

  #daemon(ctx: StackContext): DaemonRef {
    return { name: 'dockerd', dir: componentDir(ctx.paths, this.name) };
  }

  async up(ctx: StackContext): Promise<UpOutcome> {
    if (!(await installed())) await installDebianPackages(ctx, ['docker.io']);
    const dir = componentDir(ctx.paths, this.name);
    await mkdir(join(dir, 'data'), { recursive: true });
    await mkdir(join(dir, 'exec'), { recursive: true });
    // Its own (empty) config file, so /etc/docker/daemon.json of the machine does not apply.
    await writeFile(join(dir, 'daemon.json'), '{}\n');
    const socket = DockerComponent.socket(ctx);
    const outcome = await ensureDaemon(ctx, {
      ...this.#daemon(ctx),
      component: this.name,
      command: dockerd,
      args: [
        '--config-file',
        join(dir, 'daemon.json'),
        '--host',
        `unix://${socket}`,
        '--data-root',
        join(dir, 'data'),
        '--exec-root',
        join(dir, 'exec'),
        '--pidfile',
        join(dir, 'engine.pid'),
        '--bridge=none',
        '--iptables=false',
        '--ip-masq=false',
        '--userland-proxy=false',
        '--log-level=warn',
      ],
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
      ports: [],
      health: () => ping(socket),
      startTimeoutMs: 120_000,
    });
    const loaded = await ensureDockerImages(ctx, { cli: dockerCli, host: `unix://${socket}` }, [
      busyboxImage,
      pythonImage,
      collectorImage,
    ]);
    if (loaded.length > 0) ctx.reporter.info(`docker: loaded ${loaded.join(', ')}`);
    ctx.reporter.info(`docker: ${outcome === 'reused' ? 'already running' : 'running'} at unix://${socket}`);
    return outcome;
  }

  async down(ctx: StackContext): Promise<void> {
    const result = await stopDaemon(ctx, this.#daemon(ctx), { graceMs: 20_000 });
    if (result === 'not-running') ctx.reporter.info('docker: not running');
  }

  async status(ctx: StackContext): Promise<ComponentStatus> {
    const socket = DockerComponent.socket(ctx);
    const { state, record } = await daemonState(this.#daemon(ctx));
    const health = state === 'running' ? await ping(socket) : 'not running';
    let detail = state === 'running' && record ? `pid ${record.pid}` : `dockerd ${state}`;
    if (health === true) {
      const version = await run(
        dockerCli,
        ['-H', `unix://${socket}`, 'version', '--format', '{{.Server.Version}}'],
        {
          allowFailure: true,
        },
      );
      detail += `, engine ${version.stdout.trim()}`;
    } else detail += `: ${health}`;
    return { healthy: health === true, address: `unix://${socket}`, managed: true, detail };
  }

  env(ctx: StackContext): Promise<ComponentEnv> {
    return Promise.resolve({ vars: { [dockerHostEnv]: `unix://${DockerComponent.socket(ctx)}` } });
  }
}
