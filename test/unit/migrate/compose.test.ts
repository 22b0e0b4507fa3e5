import { describe, expect, it } from '@jest/globals';
import { ComposeParseError, readComposeService } from '../../../src/migrate/compose.js';
import { toManifest } from '../../../src/migrate/container-options.js';
import { parseEvaluationJob } from '../../../src/spec/index.js';

const compose = `
services:
  grader:
    image: ghcr.io/acme/grader:3.1
    container_name: Nightly_Grader
    entrypoint: ["python", "-m", "grader"]
    command: --suite "hard set" --seed $SEED
    environment:
      MODEL: llama-3-8b
      SEED: 7
      HF_TOKEN:
    env_file: grader.env
    working_dir: /srv
    user: "1000"
    read_only: true
    cap_drop: [ALL]
    cap_add: [NET_RAW]
    security_opt: ["no-new-privileges:true", "seccomp:unconfined"]
    volumes: ["./data:/data:ro"]
    ports: ["8000:8000"]
    labels: ["suite=nightly"]
    restart: on-failure:2
    healthcheck: { test: ["CMD", "true"] }
    deploy:
      resources:
        limits: { cpus: "1.5", memory: 3g }
        reservations:
          memory: 2g
          devices: [{ capabilities: [gpu], count: 1 }]
  db:
    image: postgres:16
    environment: ["POSTGRES_PASSWORD=secret"]
`;

const read = {
  readFile: (path: string) => {
    if (path === 'grader.env') return 'LOG_LEVEL=debug\n';
    throw new Error(`no file ${path}`);
  },
  hostEnv: { HF_TOKEN: 'hf_x' },
};

describe('assay migrate compose', () => {
  it('maps a service: entrypoint and command, environment, resources, GPUs, retries; warns about the rest', () => {
    const options = readComposeService(compose, 'grader', read);
    const manifest = toManifest(options, { team: 'research', user: 'ada' });
    const checked = parseEvaluationJob(manifest);
    expect(checked.ok ? [] : checked.issues).toEqual([]);
    expect(manifest).toMatchObject({
      metadata: { name: 'nightly-grader', labels: { suite: 'nightly' } },
      spec: {
        image: 'ghcr.io/acme/grader:3.1',
        command: ['python', '-m', 'grader'],
        args: ['--suite', 'hard set', '--seed', '$SEED'],
        env: [
          { name: 'LOG_LEVEL', value: 'debug' },
          { name: 'MODEL', value: 'llama-3-8b' },
          { name: 'SEED', value: '7' },
          { name: 'HF_TOKEN', value: 'hf_x' },
        ],
        workingDir: '/srv',
        resources: { cpu: '1500m', memory: '2Gi', limits: { memory: '3Gi' }, gpu: { count: 1 } },
        retries: { maxAttempts: 3 },
      },
    });
    expect(options.warnings.map((w) => w.option)).toEqual([
      'services.grader.environment',
      'services.grader.user',
      'services.grader.cap_add',
      'services.grader.security_opt',
      'services.grader.volumes',
      'services.grader.ports',
      'services.grader.healthcheck',
    ]);
  });

  it('needs --service when the file has several, and names them', () => {
    expect(() => readComposeService(compose, null, read)).toThrow('2 services (grader, db)');
    expect(() => readComposeService(compose, 'web', read)).toThrow('no service "web"');
  });

  it('refuses what it cannot convert, naming the key', () => {
    expect(() => readComposeService('services: {app: {build: .}}', null, read)).toThrow(
      'services.app.build: the image is built by Compose',
    );
    expect(() => readComposeService('services: {app: {image: x, cpus: [1]}}', null, read)).toThrow(
      ComposeParseError,
    );
    expect(() => readComposeService('services: {app: {image: x, command: "a && b"}}', null, read)).toThrow(
      'services.app.command: shell operators',
    );
    expect(() => readComposeService('version: 3', null, read)).toThrow('compose.services');
    expect(() => readComposeService('services: [', null, read)).toThrow('not YAML');
  });
});
