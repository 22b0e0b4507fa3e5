import { describe, expect, it } from '@jest/globals';
import {
  EntryPolicy,
  artifactKey,
  pathMatcher,
  resolveLinkTarget,
  safeSegments,
} from '../../../src/artifacts/policy.js';
import { buildJob, collectorContainerName } from '../../../src/activities/job-manifest.js';
import type { JobRequest } from '../../../src/spec/job-request.js';

const limits = { paths: ['.'], maxBytes: 100, maxFiles: 3 };

describe('safeSegments', () => {
  it('accepts relative names and drops ./ and empty segments', () => {
    expect(safeSegments('./artifacts//a/./b.txt')).toEqual({
      ok: true,
      segments: ['artifacts', 'a', 'b.txt'],
    });
    expect(safeSegments('artifacts/...')).toEqual({ ok: true, segments: ['artifacts', '...'] });
  });
  it('refuses absolute names, .., control characters and backslashes', () => {
    expect(safeSegments('/etc/passwd')).toMatchObject({ ok: false, kind: 'absolutePath' });
    expect(safeSegments('artifacts/../../etc/passwd')).toMatchObject({ ok: false, kind: 'parentTraversal' });
    expect(safeSegments('artifacts/a\nb')).toMatchObject({ ok: false, kind: 'invalidName' });
    expect(safeSegments('artifacts/..\\..\\x')).toMatchObject({ ok: false, kind: 'invalidName' });
  });
});

describe('resolveLinkTarget', () => {
  it('resolves inside the root and refuses what leaves it', () => {
    expect(resolveLinkTarget(['a', 'b'], '../c')).toEqual(['a', 'c']);
    expect(resolveLinkTarget(['a'], '../../etc')).toBeNull();
    expect(resolveLinkTarget([], '/etc/passwd')).toBeNull();
    expect(resolveLinkTarget([], '..')).toBeNull();
  });
});

describe('pathMatcher', () => {
  it('takes directories whole and matches globs per segment', () => {
    const m = pathMatcher(['reports', 'out/*.json', '**/*.csv']);
    expect(m('reports/a/b.txt')).toBe(true);
    expect(m('out/x.json')).toBe(true);
    expect(m('out/sub/x.json')).toBe(false);
    expect(m('deep/er/t.csv')).toBe(true);
    expect(m('t.csv')).toBe(true);
    expect(m('other.txt')).toBe(false);
    expect(pathMatcher(['.'])('anything/at/all')).toBe(true);
  });
});

describe('EntryPolicy', () => {
  it('admits files up to the file and byte limits, then reports each one beyond', () => {
    const p = new EntryPolicy({ ...limits, maxFiles: 2 }, null);
    expect(p.decide({ name: 'artifacts/', type: 'directory' })).toEqual({ action: 'ignore' });
    expect(p.decide({ name: 'artifacts/a/x', type: 'file', size: 10 })).toEqual({
      action: 'artifact',
      path: 'a/x',
      size: 10,
    });
    expect(p.decide({ name: 'artifacts/big', type: 'file', size: 95 })).toMatchObject({
      action: 'reject',
      violation: { kind: 'tooManyBytes', path: 'big' },
    });
    expect(p.decide({ name: 'artifacts/y', type: 'file', size: 5 })).toMatchObject({ action: 'artifact' });
    expect(p.decide({ name: 'artifacts/z', type: 'file', size: 1 })).toMatchObject({
      action: 'reject',
      violation: { kind: 'tooManyFiles' },
    });
    expect([p.files, p.bytes]).toEqual([2, 15]);
  });

  it('refuses escaping names, links and special files', () => {
    const p = new EntryPolicy(limits, null);
    const kind = (e: Parameters<EntryPolicy['decide']>[0]) => {
      const d = p.decide(e);
      return d.action === 'reject' ? d.violation.kind : d.action;
    };
    expect(kind({ name: '/etc/passwd', type: 'file', size: 1 })).toBe('absolutePath');
    expect(kind({ name: 'artifacts/../../x', type: 'file', size: 1 })).toBe('parentTraversal');
    expect(kind({ name: 'artifacts/passwd', type: 'symlink', linkname: '/etc/passwd' })).toBe('linkOutside');
    expect(kind({ name: 'artifacts/a/up', type: 'symlink', linkname: '../../..' })).toBe('linkOutside');
    expect(kind({ name: 'artifacts/a/same', type: 'symlink', linkname: '../b' })).toBe('link');
    expect(kind({ name: 'artifacts/h', type: 'link', linkname: 'artifacts/a' })).toBe('link');
    expect(kind({ name: 'artifacts/h2', type: 'link', linkname: '/etc/shadow' })).toBe('linkOutside');
    expect(kind({ name: 'artifacts/tty', type: 'character-device' })).toBe('specialFile');
    expect(kind({ name: 'artifacts/pipe', type: 'fifo' })).toBe('specialFile');
    expect(kind({ name: 'elsewhere/x', type: 'file', size: 1 })).toBe('invalidName');
  });

  it('reads the declared result file within its limit', () => {
    const p = new EntryPolicy(null, { path: 'out/result.json', maxBytes: 10 });
    expect(p.decide({ name: 'result/out/result.json', type: 'file', size: 10 })).toEqual({
      action: 'result',
      size: 10,
    });
    expect(p.decide({ name: 'result/out/result.json', type: 'file', size: 11 })).toMatchObject({
      violation: { kind: 'resultTooLarge' },
    });
    expect(p.decide({ name: 'result/other.json', type: 'file', size: 1 })).toEqual({ action: 'ignore' });
    expect(
      p.decide({ name: 'result/out/result.json', type: 'symlink', linkname: '/etc/passwd' }),
    ).toMatchObject({
      violation: { kind: 'resultInvalid' },
    });
  });
});

describe('artifactKey', () => {
  it('keeps every key under the evaluation prefix', () => {
    expect(artifactKey('e1', 'a/b.txt')).toBe('evaluations/e1/artifacts/a/b.txt');
    expect(() => artifactKey('e1', '../x')).toThrow();
    expect(() => artifactKey('e1', '/x')).toThrow();
    expect(() => artifactKey('e1', 'a//b')).toThrow();
  });
});

describe('buildJob with outputs', () => {
  const base: JobRequest = {
    evaluationId: 'e1',
    attempt: 1,
    namespace: 'assay-ml',
    workflowId: 'eval-e1',
    runId: 'r',
    team: 'ml',
    user: 'ada',
    priority: 'normal',
    image: 'localhost/assay/busybox:1',
    command: ['true'],
    args: [],
    env: [],
    workingDir: null,
    resources: {
      requests: { cpu: '100m', memory: '64Mi', ephemeralStorage: '2Gi' },
      limits: { cpu: '100m', memory: '64Mi', ephemeralStorage: '2Gi' },
      gpu: null,
    },
    timeoutSeconds: 60,
    labels: {},
    runtimeClassName: null,
  };

  it('has no sidecar and no output volumes when nothing is declared', () => {
    const pod = buildJob(base, { collector: null }).spec!.template.spec!;
    expect(pod.containers.map((c) => c.name)).toEqual(['main']);
    expect(pod.volumes?.map((v) => v.name)).toEqual(['tmp']);
  });

  it('adds a restricted, read-only collector sharing size-limited emptyDirs', () => {
    const pod = buildJob(
      {
        ...base,
        outputs: {
          result: { path: 'r.json', maxBytes: 1024 },
          artifacts: { paths: ['.'], maxBytes: 2048, maxFiles: 5 },
        },
      },
      { collector: { image: 'localhost/assay/collector:test', imagePullPolicy: 'Never' } },
    ).spec!.template.spec!;
    const [main, collector] = pod.containers;
    expect(collector?.name).toBe(collectorContainerName);
    expect(collector?.image).toBe('localhost/assay/collector:test');
    expect(collector?.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      runAsNonRoot: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(collector?.volumeMounts?.every((m) => m.readOnly === true)).toBe(true);
    expect(main?.volumeMounts?.map((m) => m.mountPath)).toEqual([
      '/tmp',
      '/assay/result',
      '/assay/artifacts',
    ]);
    expect(pod.volumes?.slice(1)).toEqual([
      { name: 'assay-result', emptyDir: { sizeLimit: '1024' } },
      { name: 'assay-artifacts', emptyDir: { sizeLimit: String(2048 + 5 * 8192) } },
    ]);
    expect(main?.env).toEqual(
      expect.arrayContaining([
        { name: 'ASSAY_RESULT_PATH', value: '/assay/result/r.json' },
        { name: 'ASSAY_ARTIFACTS_DIR', value: '/assay/artifacts' },
      ]),
    );
    expect(pod.initContainers).toBeUndefined();
  });
});
