/**
 * docker-compose.yml for real (docs/deploy.md, "Docker Compose"): Docker Compose v2 built from its Go module and
 * installed as a CLI plugin (`src/deploy/tools.ts`), the images `npm run images` builds loaded into the stack's Docker
 * engine, `docker compose up -d --wait` to healthy under a project name of its own (ephemeral loopback ports, the
 * stack's engine socket mounted), then an evaluation run by `assay` inside the worker container on the Docker
 * executor, and `docker compose down -v`. Prints `measure: docker compose up → healthy …`.
 */
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { deployImages } from '../../src/deploy/images.js';
import { ensureComposePlugin } from '../../src/deploy/tools.js';
import { dockerHostEnv } from '../../src/stack/docker/component.js';
import { ensureDockerImages } from '../../src/stack/docker/images.js';
import { run, type RunResult } from '../../src/stack/images/exec.js';
import { createStackContext } from '../../src/stack/stack.js';
import { newId } from '../support/evaluation-harness.js';

const ctx = createStackContext();
const dockerHost = z.string().startsWith('unix://').parse(process.env[dockerHostEnv]);
const project = newId('assay-it-compose');
let envFile: string;
let work: string;
let up = false;

/** `docker compose` (the CLI plugin) against the stack's engine, for this test's project. */
function compose(args: readonly string[], options: { allowFailure?: boolean; timeoutMs?: number } = {}) {
  return run(
    'docker',
    ['compose', '-f', 'docker-compose.yml', '--project-name', project, '--env-file', envFile, ...args],
    {
      env: { DOCKER_HOST: dockerHost },
      timeoutMs: options.timeoutMs ?? 180_000,
      ...(options.allowFailure ? { allowFailure: true } : {}),
    },
  );
}

const output = (r: RunResult): string => `${r.stdout}\n${r.stderr}`;

beforeAll(async () => {
  await ensureComposePlugin(ctx);
  await ensureDockerImages(ctx, { cli: '/usr/bin/docker', host: dockerHost }, deployImages);
  work = await mkdtemp(join(tmpdir(), 'assay-compose-'));
  envFile = join(work, '.env');
  const socket = dockerHost.slice('unix://'.length);
  await writeFile(
    envFile,
    [
      `ASSAY_S3_ACCESS_KEY_ID=AKIT${newId('k').slice(2).toUpperCase()}`,
      `ASSAY_S3_SECRET_ACCESS_KEY=${newId('secret')}${newId('s')}`,
      `DOCKER_SOCKET=${socket}`,
      `DOCKER_GID=${(await stat(socket)).gid}`,
      // Ephemeral loopback ports: another compose project (or a developer's Temporal) may hold the defaults.
      'TEMPORAL_PORT=0',
      'TEMPORAL_UI_PORT=0',
      'S3_PORT=0',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
}, 20 * 60_000);

afterAll(async () => {
  if (up) await compose(['down', '-v', '--timeout', '10'], { allowFailure: true });
  if (work) await rm(work, { recursive: true, force: true });
}, 120_000);

describe('docker compose', () => {
  it('is a CLI plugin built from its Go module', async () => {
    const { stdout } = await run('docker', ['compose', 'version']);
    expect(stdout).toContain('v2.40.3');
  });

  it('up -d --wait brings Temporal, S3 and the worker to healthy and creates the bucket', async () => {
    const started = Date.now();
    up = true;
    const result = await compose(['up', '-d', '--wait', '--wait-timeout', '150'], {
      allowFailure: true,
      timeoutMs: 200_000,
    });
    if (result.code !== 0) {
      const logs = await compose(['logs', '--no-color', '--tail', '40'], { allowFailure: true });
      throw new Error(`docker compose up failed:\n${output(result)}\n${output(logs)}`);
    }
    process.stderr.write(
      `measure: docker compose up → healthy ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
    );
    const ps = await compose(['ps', '--all', '--format', 'json']);
    const services = ps.stdout
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as { Service: string; Health: string; State: string; ExitCode: number });
    const by = (s: string) => services.find((x) => x.Service === s);
    for (const s of ['temporal', 's3', 'worker'])
      expect(by(s)).toMatchObject({ State: 'running', Health: 'healthy' });
    expect(by('s3-init')).toMatchObject({ State: 'exited', ExitCode: 0 });
  }, 240_000);

  it('runs an evaluation through it: assay run in the worker container, on the Docker executor', async () => {
    const id = newId('compose');
    // The stack's engine runs without iptables (docs/architecture.md, "The local stack"), so Docker's embedded DNS
    // answers getaddrinfo but lets grpc-js's TXT query for `temporal` time out (≈ 22 s): the CLI gets the address.
    const ip = (
      await compose([
        'exec',
        '-T',
        'worker',
        'node',
        '-e',
        "require('dns').lookup('temporal', (e, a) => console.log(a))",
      ])
    ).stdout.trim();
    const result = await compose(
      [
        'exec',
        '-T',
        '-e',
        `TEMPORAL_ADDRESS=${ip}:7233`,
        'worker',
        'assay',
        'run',
        '-f',
        '/examples/demo/evaluation.yaml',
        '--id',
        id,
        '--wait',
        '-o',
        'json',
      ],
      { allowFailure: true, timeoutMs: 180_000 },
    );
    if (result.code !== 0) {
      const logs = await compose(['logs', '--no-color', '--tail', '60', 'worker'], { allowFailure: true });
      throw new Error(`assay run exited ${result.code}:\n${output(result)}\n${output(logs)}`);
    }
    const record = JSON.parse(result.stdout) as {
      outcome: string;
      cluster: string;
      result: { metric: string };
    };
    expect(record).toMatchObject({
      outcome: 'Succeeded',
      cluster: 'docker',
      result: { metric: 'pi_estimate' },
    });
  }, 200_000);
});
