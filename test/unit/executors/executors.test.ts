/** The executor rollout, the registry's docker entries, and the Docker container of an attempt (issue 19). */
import { describe, expect, it } from '@jest/globals';
import { chooseCluster, chooseExecutor, rolloutBucket } from '../../../src/activities/cluster.js';
import { buildContainer } from '../../../src/executors/docker/container.js';
import { classifyContainerEnd, sinceParameter } from '../../../src/executors/docker/executor.js';
import { demultiplex } from '../../../src/executors/docker/engine.js';
import type { JobRequest } from '../../../src/spec/job-request.js';
import { dockerEngineSchema, workerConfigSchema } from '../../../src/spec/worker-config.js';

const base = { temporal: {}, clusters: [{ name: 'local' }] };
const registry = workerConfigSchema.parse({
  ...base,
  clusters: [{ name: 'local' }, { name: 'engine', executor: 'docker', docker: { socket: '/run/d.sock' } }],
}).clusters;

describe('the executor rollout', () => {
  it('defaults to kubernetes; a team on docker gets the docker entry, recorded in the choice', () => {
    const executors = workerConfigSchema.parse({ ...base, executors: { teams: { ml: 'docker' } } }).executors;
    const req = { team: 'ml', name: null, selector: {}, gpuType: null, evaluationId: 'e1' };
    expect(chooseCluster(registry, req, 'assay', executors)).toMatchObject({
      name: 'engine',
      executor: 'docker',
      taskQueue: 'assay-cluster-engine',
    });
    expect(chooseCluster(registry, { ...req, team: 'other' }, 'assay', executors)).toMatchObject({
      name: 'local',
      executor: 'kubernetes',
    });
    // Rollback: the flag flipped back sends the next evaluation to Kubernetes.
    const flipped = workerConfigSchema.parse({
      ...base,
      executors: { teams: { ml: 'kubernetes' } },
    }).executors;
    expect(chooseCluster(registry, req, 'assay', flipped).executor).toBe('kubernetes');
  });

  it('a percentage is deterministic by evaluation id and close to the share asked for', () => {
    const executors = workerConfigSchema.parse({
      ...base,
      executors: { teams: { ml: { docker: 30 } } },
    }).executors;
    const ids = Array.from({ length: 2000 }, (_, i) => `eval-${i}`);
    const pick = (id: string): string => chooseExecutor(executors, { team: 'ml', evaluationId: id }).executor;
    const docker = ids.filter((id) => pick(id) === 'docker').length;
    expect(docker / ids.length).toBeGreaterThan(0.26);
    expect(docker / ids.length).toBeLessThan(0.34);
    for (const id of ids.slice(0, 50)) expect(pick(id)).toBe(pick(id));
    expect(rolloutBucket('x')).toBe(rolloutBucket('x'));
  });

  it('a user entry wins over the team; a named cluster wins over the rollout', () => {
    const executors = workerConfigSchema.parse({
      ...base,
      executors: { teams: { ml: 'docker' }, users: { ada: 'kubernetes' } },
    }).executors;
    expect(chooseExecutor(executors, { team: 'ml', user: 'ada' }).executor).toBe('kubernetes');
    const req = { team: 'ml', name: 'local', selector: {}, gpuType: null };
    expect(chooseCluster(registry, req, 'assay', executors).name).toBe('local');
  });

  it('no docker entry for a team on docker: no cluster, and the reason says why', () => {
    const executors = workerConfigSchema.parse({ ...base, executors: { teams: { ml: 'docker' } } }).executors;
    expect(() =>
      chooseCluster(
        registry.slice(0, 1),
        { team: 'ml', name: null, selector: {}, gpuType: null },
        'assay',
        executors,
      ),
    ).toThrow(/local: executor kubernetes, and executors of team ml says docker/);
  });
});

describe('the worker config', () => {
  it('errors name the field', () => {
    const bad = (config: unknown): string[] => {
      const r = workerConfigSchema.safeParse(config);
      return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(bad({ ...base, clusters: [{ name: 'd', executor: 'docker' }] })).toEqual([
      'clusters.0.docker: an executor: docker entry needs docker: { socket }',
    ]);
    expect(bad({ ...base, executors: { teams: { ml: { docker: 150 } } } })[0]).toMatch(
      /^executors\.teams\.ml/,
    );
    expect(bad({ ...base, executors: { default: 'podman' } })[0]).toMatch(/^executors\.default/);
  });
});

const request: JobRequest = {
  evaluationId: 'abc',
  attempt: 2,
  namespace: 'assay-ml',
  workflowId: 'eval-abc',
  runId: 'r',
  team: 'ml',
  user: 'ada',
  priority: 'normal',
  image: 'localhost/assay/busybox:1',
  command: ['sh', '-c'],
  args: ['echo hi'],
  env: [{ name: 'A', value: '1' }],
  workingDir: null,
  resources: {
    requests: { cpu: '500m', memory: '64Mi', ephemeralStorage: '64Mi' },
    limits: { cpu: '500m', memory: '64Mi', ephemeralStorage: '64Mi' },
    gpu: null,
  },
  timeoutSeconds: 60,
  labels: {},
  runtimeClassName: null,
  outputs: { result: { path: 'r.json', maxBytes: 1024 }, artifacts: null },
};

describe('the Docker container of an attempt', () => {
  it('carries the security defaults, limits, labels and output volume', () => {
    const { name, volume, body } = buildContainer(request, dockerEngineSchema.parse({}));
    expect(name).toBe('assay-abc-2');
    expect(volume).toBe('assay-abc-2');
    expect(body).toMatchObject({
      User: '65532:65532',
      Entrypoint: ['sh', '-c'],
      Cmd: ['echo hi'],
      Labels: {
        'app.kubernetes.io/managed-by': 'assay',
        'assay.dev/evaluation-id': 'abc',
        'assay.dev/attempt': '2',
        'assay.dev/team': 'ml',
        'assay.dev/user': 'ada',
      },
      HostConfig: {
        ReadonlyRootfs: true,
        SecurityOpt: ['no-new-privileges'],
        CapDrop: ['ALL'],
        NetworkMode: 'none',
        PidsLimit: 1024,
        Memory: 64 * 1024 * 1024,
        NanoCpus: 500_000_000,
        Mounts: [{ Type: 'volume', Source: 'assay-abc-2', Target: '/assay' }],
      },
    });
    expect(body.Env).toEqual(
      expect.arrayContaining(['A=1', 'ASSAY_RESULT_PATH=/assay/result/r.json', 'HOME=/tmp']),
    );
  });

  it('refuses what a Docker engine cannot honour', () => {
    const settings = dockerEngineSchema.parse({});
    expect(() =>
      buildContainer({ ...request, env: [{ name: 'K', secretRef: { name: 's', key: 'k' } }] }, settings),
    ).toThrow(/secretRef/);
    const egress = { cidr: '10.0.0.0/8', except: [], ports: [443], protocol: 'TCP' as const };
    const security = {
      runtime: 'default',
      runtimeClassName: null,
      seccomp: 'runtimeDefault' as const,
      seccompProfile: null,
      appArmor: null,
      appArmorSkipped: null,
      egress: [egress],
      dns: null,
    };
    expect(() => buildContainer({ ...request, security }, settings)).toThrow(/egressNetwork/);
    expect(
      (
        buildContainer({ ...request, security }, { ...settings, egressNetwork: 'assay-egress' }).body
          .HostConfig as {
          NetworkMode: string;
        }
      ).NetworkMode,
    ).toBe('assay-egress');
  });
});

describe('the Docker end and logs', () => {
  it('classifies exit codes, OOM and the deadline', () => {
    const at = (s: number): string => new Date(1_000_000 + s * 1000).toISOString();
    const end = (exitCode: number, oom = false, finished = 5) =>
      classifyContainerEnd(
        'c',
        { exitCode, oom, startedAt: at(0), finishedAt: at(finished) },
        1_000_000 + 10_000,
        10,
      );
    expect(end(0)).toMatchObject({ kind: 'Succeeded', reason: 'Completed' });
    expect(end(3)).toMatchObject({ kind: 'Failed', reason: 'Error', exitCode: 3 });
    expect(end(137, true)).toMatchObject({ kind: 'Failed', reason: 'OOMKilled' });
    expect(end(143, false, 10)).toMatchObject({
      kind: 'TimedOut',
      reason: 'DeadlineExceeded',
      exitCode: 143,
    });
  });

  it('since keeps nanoseconds; demultiplexing keeps one stream', async () => {
    expect(sinceParameter('2024-01-02T03:04:05.123456789Z')).toBe('1704164645.123456789');
    expect(sinceParameter('2024-01-02T03:04:05Z')).toBe('1704164645.000000000');
    const frame = (stream: number, text: string): Buffer => {
      const header = Buffer.alloc(8);
      header[0] = stream;
      header.writeUInt32BE(Buffer.byteLength(text), 4);
      return Buffer.concat([header, Buffer.from(text)]);
    };
    const all = Buffer.concat([frame(1, 'out 1\n'), frame(2, 'err 1\n'), frame(1, 'out 2\n')]);
    // Split at odd places: frames cross chunk boundaries.
    const chunks = (): Iterable<Buffer> =>
      Array.from({ length: Math.ceil(all.length / 5) }, (_, i) => all.subarray(i * 5, i * 5 + 5));
    const out: Buffer[] = [];
    for await (const b of demultiplex(chunks(), 1)) out.push(b);
    expect(Buffer.concat(out).toString()).toBe('out 1\nout 2\n');
  });
});
