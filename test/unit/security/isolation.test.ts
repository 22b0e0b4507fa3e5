import { describe, expect, it } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { chooseCluster } from '../../../src/activities/cluster.js';
import { buildJob } from '../../../src/activities/job-manifest.js';
import { classifyPod } from '../../../src/activities/classify.js';
import { attemptEgressPolicy, defaultDenyPolicy } from '../../../src/security/network-policy.js';
import { resolveIsolation, type IsolationRequest } from '../../../src/security/resolve.js';
import { strictAllowed, strictDenied, strictSeccompProfile } from '../../../src/security/seccomp.js';
import { cidrContains, linkLocalExcept, parseCidr } from '../../../src/spec/cidr.js';
import { clusterSecuritySchema } from '../../../src/spec/cluster-security-config.js';
import { parseEvaluationJob } from '../../../src/spec/evaluation-job.js';
import type { JobRequest } from '../../../src/spec/job-request.js';
import { clusterRegistrySchema, workerConfigSchema } from '../../../src/spec/worker-config.js';

const open: IsolationRequest = { image: 'localhost/assay/busybox:1', egress: null, seccomp: null, runtime: null };

function manifest(spec: Record<string, unknown>) {
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    spec: { team: 'ml', user: 'ada', image: 'busybox', ...spec },
  };
}

function issuesOf(spec: Record<string, unknown>): string[] {
  const parsed = parseEvaluationJob(manifest(spec));
  return parsed.ok ? [] : parsed.issues.map((i) => `${i.path}: ${i.message}`);
}

describe('CIDR blocks', () => {
  it('parses IPv4 and IPv6 and tells containment', () => {
    expect(parseCidr('10.0.0.0/8')).toMatchObject({ family: 4, prefix: 8 });
    expect(parseCidr('fd00::/8')).toMatchObject({ family: 6, prefix: 8 });
    for (const bad of ['10.0.0.0', '10.0.0.256/8', '10.0.0.0/33', '01.2.3.4/8', 'fd00:::1/8', 'x/1']) {
      expect(parseCidr(bad)).toBeNull();
    }
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseCidr('10.1.2.3/32')!)).toBe(true);
    expect(cidrContains(parseCidr('10.0.0.0/8')!, parseCidr('11.0.0.0/32')!)).toBe(false);
    expect(cidrContains(parseCidr('::/0')!, parseCidr('10.0.0.0/8')!)).toBe(false);
  });

  it('excepts link-local from a user block that contains it', () => {
    expect(linkLocalExcept('0.0.0.0/0')).toEqual(['169.254.0.0/16']);
    expect(linkLocalExcept('::/0')).toEqual(['fe80::/10']);
    expect(linkLocalExcept('10.0.0.0/8')).toEqual([]);
  });
});

describe('spec.network and spec.security', () => {
  it('default to none and to the cluster defaults', () => {
    const parsed = parseEvaluationJob(manifest({}));
    expect(parsed.ok && parsed.value.spec.network).toBe('none');
    expect(parsed.ok && parsed.value.spec.security).toEqual({});
  });

  it('name the field and the reason of each mistake', () => {
    expect(issuesOf({ network: { egress: [{ cidr: '10.0.0.1' }] } })).toEqual([
      expect.stringMatching(/^spec\.network\.egress\[0\]\.cidr: "10\.0\.0\.1" is not a CIDR block/),
    ]);
    expect(issuesOf({ network: { egress: [{ cidr: '169.254.169.254/32', ports: [80] }] } })).toEqual([
      expect.stringMatching(/^spec\.network\.egress\[0\]\.cidr: .*link-local/),
    ]);
    expect(issuesOf({ network: { egress: [{ cidr: '10.0.0.0/8', ports: [70000] }] } })[0]).toMatch(
      /^spec\.network\.egress\[0\]\.ports\[0\]:/,
    );
    expect(issuesOf({ security: { seccomp: 'loose' } })[0]).toMatch(/^spec\.security\.seccomp:/);
    expect(issuesOf({ security: { runtime: 'G Visor' } })[0]).toMatch(/^spec\.security\.runtime:/);
  });
});

describe('resolveIsolation', () => {
  const policy = clusterSecuritySchema.parse({
    runtimeClasses: { gvisor: 'gvisor' },
    seccomp: { default: 'strict' },
    network: { operatorEgress: [{ cidr: '192.0.2.50/32', ports: [443] }], userEgressWithin: ['192.0.2.0/24'] },
  });

  it('applies the cluster defaults and the operator destinations', () => {
    const result = resolveIsolation(policy, open);
    expect(result).toEqual({
      ok: true,
      security: {
        runtime: 'default',
        runtimeClassName: null,
        seccomp: 'strict',
        seccompProfile: 'assay/strict.json',
        appArmor: null,
        appArmorSkipped: expect.stringContaining('security.appArmor: off'),
        egress: [{ cidr: '192.0.2.50/32', except: [], ports: [443], protocol: 'TCP' }],
        dns: null,
      },
    });
  });

  it('maps the runtime to its RuntimeClass and refuses one the cluster lacks', () => {
    expect(resolveIsolation(policy, { ...open, runtime: 'gvisor' })).toMatchObject({
      ok: true,
      security: { runtime: 'gvisor', runtimeClassName: 'gvisor' },
    });
    expect(resolveIsolation(policy, { ...open, runtime: 'kata' })).toEqual({
      ok: false,
      reason: expect.stringContaining('no kata runtime (offers default, gvisor'),
    });
  });

  it('opens DNS only with user egress, and refuses egress outside the operator bounds', () => {
    const inside = resolveIsolation(policy, { ...open, egress: [{ cidr: '192.0.2.7/32', ports: [80], protocol: 'TCP' }] });
    expect(inside).toMatchObject({ ok: true, security: { dns: { namespace: 'kube-system' } } });
    expect(resolveIsolation(policy, { ...open, egress: [{ cidr: '0.0.0.0/0', ports: [], protocol: 'TCP' }] })).toEqual({
      ok: false,
      reason: expect.stringContaining('egress to 0.0.0.0/0 is not allowed here'),
    });
  });

  it('maps AppArmor where the cluster declares it, and records why not where it does not', () => {
    const withAppArmor = (appArmor: unknown) => resolveIsolation(clusterSecuritySchema.parse({ appArmor }), open);
    expect(withAppArmor('runtimeDefault')).toMatchObject({ security: { appArmor: 'RuntimeDefault', appArmorSkipped: null } });
    expect(withAppArmor({ localhost: 'assay-eval' })).toMatchObject({ security: { appArmor: { localhost: 'assay-eval' } } });
    expect(withAppArmor('off')).toMatchObject({ security: { appArmor: null, appArmorSkipped: expect.any(String) } });
  });

  it('enforces the image policy', () => {
    const images = clusterSecuritySchema.parse({ images: { allowedPrefixes: ['registry.example/evals/'], requireDigest: true } });
    expect(resolveIsolation(images, open)).toEqual({
      ok: false,
      reason: expect.stringContaining('not from an allowed registry (security.images.allowedPrefixes'),
    });
    expect(resolveIsolation(images, { ...open, image: 'registry.example/evals/x:1' })).toEqual({
      ok: false,
      reason: expect.stringContaining('not pinned by digest'),
    });
    expect(resolveIsolation(images, { ...open, image: `registry.example/evals/x@sha256:${'a'.repeat(64)}` }).ok).toBe(true);
  });
});

describe('clusters[].security', () => {
  it('names the field of a default runtime the cluster does not offer', () => {
    const parsed = workerConfigSchema.safeParse({ clusters: [{ name: 'local', security: { defaultRuntime: 'gvisor' } }] });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]).toMatchObject({ path: ['clusters', 0, 'security', 'defaultRuntime'] });
  });

  it('a runtime only one cluster offers picks it; none offering it is NoClusterAvailable naming each cluster', () => {
    const registry = clusterRegistrySchema.parse([
      { name: 'plain' },
      { name: 'sandboxed', security: { runtimeClasses: { gvisor: 'gvisor' } } },
    ]);
    const requirements = { team: 'ml', name: null, selector: {}, gpuType: null };
    const gvisor = { ...requirements, isolation: { ...open, runtime: 'gvisor' } };
    expect(chooseCluster(registry, gvisor)).toMatchObject({ name: 'sandboxed', runtimeClassName: 'gvisor' });
    let error: unknown;
    try {
      chooseCluster(registry, { ...gvisor, name: 'plain' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ApplicationFailure);
    expect((error as Error).message).toContain('plain: no gvisor runtime');
  });
});

describe('manifests', () => {
  const request: JobRequest = {
    evaluationId: '01jz8k5v3q4w6x7y8z9a0b1c2d',
    attempt: 1,
    namespace: 'assay-ml',
    workflowId: 'w',
    runId: 'r',
    team: 'ml',
    user: 'ada',
    priority: 'normal',
    image: 'busybox',
    command: [],
    args: [],
    env: [],
    workingDir: null,
    resources: {
      requests: { cpu: '1', memory: '1Gi', ephemeralStorage: '1Gi' },
      limits: { cpu: '1', memory: '1Gi', ephemeralStorage: '1Gi' },
      gpu: null,
    },
    timeoutSeconds: 60,
    labels: {},
    runtimeClassName: 'gvisor',
  };
  const strict = resolveIsolation(
    clusterSecuritySchema.parse({ seccomp: { default: 'strict' }, appArmor: 'runtimeDefault' }),
    { ...open, egress: [{ cidr: '0.0.0.0/0', ports: [443], protocol: 'TCP' }] },
  );
  if (!strict.ok) throw new Error(strict.reason);

  it('puts the strict profile and AppArmor on the pod and every container', () => {
    const pod = buildJob({ ...request, security: strict.security }, { collector: null }).spec!.template.spec!;
    expect(pod.runtimeClassName).toBe('gvisor');
    expect(pod.securityContext?.seccompProfile).toEqual({ type: 'Localhost', localhostProfile: 'assay/strict.json' });
    expect(pod.securityContext?.appArmorProfile).toEqual({ type: 'RuntimeDefault' });
    expect(pod.containers[0]!.securityContext?.seccompProfile).toEqual(pod.securityContext?.seccompProfile);
    const plain = buildJob(request, { collector: null }).spec!.template.spec!;
    expect(plain.securityContext?.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    expect(plain.securityContext?.appArmorProfile).toBeUndefined();
  });

  it('denies everything namespace-wide and opens only the attempt allow-list, link-local excepted', () => {
    expect(defaultDenyPolicy('assay-ml', 'ml').spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    const policy = attemptEgressPolicy({ ...request, security: strict.security })!;
    expect(policy.metadata?.name).toBe('assay-01jz8k5v3q4w6x7y8z9a0b1c2d-1-egress');
    expect(policy.spec?.podSelector?.matchLabels).toMatchObject({ 'assay.dev/attempt': '1' });
    expect(policy.spec?.egress?.[0]).toEqual({
      to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['169.254.0.0/16'] } }],
      ports: [{ protocol: 'TCP', port: 443 }],
    });
    expect(policy.spec?.egress?.[1]?.ports).toEqual([
      { protocol: 'UDP', port: 53 },
      { protocol: 'TCP', port: 53 },
    ]);
    expect(attemptEgressPolicy(request)).toBeNull();
  });
});

describe('the strict seccomp profile', () => {
  const profile = strictSeccompProfile() as { defaultAction: string; syscalls: { names: string[]; action: string }[] };
  const allowed = new Set(profile.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW').flatMap((s) => s.names));

  it('refuses by default and allows none of the denied calls', () => {
    expect(profile.defaultAction).toBe('SCMP_ACT_ERRNO');
    for (const name of strictDenied) expect(allowed.has(name)).toBe(false);
    for (const name of ['unshare', 'mount', 'ptrace', 'bpf', 'keyctl', 'add_key', 'perf_event_open', 'init_module', 'userfaultfd']) {
      expect(strictDenied).toContain(name);
    }
    expect(new Set(strictAllowed).size).toBe(strictAllowed.length);
  });
});

describe('classification of isolation limits', () => {
  const started = new Date('2025-01-01T00:00:00Z');
  it('an eviction for the pod’s own storage limit is Failed EphemeralStorageExceeded, node pressure stays infrastructure', () => {
    const evicted = (message: string) =>
      classifyPod({
        metadata: { name: 'p' },
        status: {
          phase: 'Failed',
          reason: 'Evicted',
          message,
          containerStatuses: [
            {
              name: 'main',
              image: 'i',
              imageID: '',
              ready: false,
              restartCount: 0,
              state: { terminated: { exitCode: 137, reason: 'Error', startedAt: started, finishedAt: started } },
            },
          ],
        },
      });
    expect(evicted('Pod ephemeral local storage usage exceeds the total limit of containers 16Mi. ')).toMatchObject({
      kind: 'Failed',
      reason: 'EphemeralStorageExceeded',
    });
    expect(evicted('Usage of EmptyDir volume "tmp" exceeds the limit "1Gi". ')).toMatchObject({
      reason: 'EphemeralStorageExceeded',
    });
    expect(evicted('The node was low on resource: ephemeral-storage. ')).toMatchObject({ kind: 'Infrastructure' });
  });

  it('a failed container whose output shows a failed fork is ProcessLimitReached', () => {
    const end = classifyPod({
      metadata: { name: 'p' },
      status: {
        phase: 'Failed',
        containerStatuses: [
          {
            name: 'main',
            image: 'i',
            imageID: '',
            ready: false,
            restartCount: 0,
            state: {
              terminated: {
                exitCode: 2,
                reason: 'Error',
                message: "sh: can't fork: Resource temporarily unavailable\n",
                startedAt: started,
                finishedAt: started,
              },
            },
          },
        ],
      },
    });
    expect(end).toMatchObject({ kind: 'Failed', reason: 'ProcessLimitReached', exitCode: 2 });
  });
});
