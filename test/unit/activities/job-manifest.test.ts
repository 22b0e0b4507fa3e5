import { describe, expect, it } from '@jest/globals';
import {
  CollectorNotConfiguredError,
  attemptSelector,
  buildJob,
  buildNamespace,
  collectorContainerName,
  podDeadlineSlackSeconds,
} from '../../../src/activities/job-manifest.js';
import type { JobRequest } from '../../../src/spec/job-request.js';
import { annotationKeys, labelKeys } from '../../../src/spec/kube-labels.js';

const request: JobRequest = {
  evaluationId: '01jz8k5v3q4w6x7y8z9a0b1c2d',
  attempt: 2,
  namespace: 'assay-ml',
  workflowId: 'eval-01jz8k5v3q4w6x7y8z9a0b1c2d',
  runId: 'run-1',
  team: 'ml',
  user: 'ada',
  priority: 'high',
  image: 'localhost/assay/python:3',
  command: ['python3', '-c'],
  args: ['print(1)'],
  env: [
    { name: 'MODE', value: 'fast' },
    { name: 'TOKEN', secretRef: { name: 'creds', key: 'token' } },
  ],
  workingDir: null,
  resources: {
    requests: { cpu: '250m', memory: '256Mi', ephemeralStorage: '1Gi' },
    limits: { cpu: '500m', memory: '256Mi', ephemeralStorage: '1Gi' },
    gpu: null,
  },
  timeoutSeconds: 600,
  labels: { 'cost-center': 'research' },
  runtimeClassName: null,
};

const noCollector = { collector: null };

describe('buildJob', () => {
  const job = buildJob(request, noCollector);
  const pod = job.spec!.template.spec!;
  const main = pod.containers[0]!;

  it('names the Job after the evaluation and the attempt', () => {
    expect(job.metadata?.name).toBe('assay-01jz8k5v3q4w6x7y8z9a0b1c2d-2');
    expect(job.metadata?.namespace).toBe('assay-ml');
  });

  it('leaves retries to the workflow and bounds the run', () => {
    expect(job.spec?.backoffLimit).toBe(0);
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.activeDeadlineSeconds).toBe(600 + podDeadlineSlackSeconds);
    expect(job.spec?.activeDeadlineSeconds).toBeGreaterThan(600);
    expect(job.spec?.ttlSecondsAfterFinished).toBeGreaterThan(0);
    expect(main.terminationMessagePolicy).toBe('FallbackToLogsOnError');
  });

  it('hardens the pod as the restricted Pod Security Standard requires', () => {
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(pod.securityContext?.seccompProfile?.type).toBe('RuntimeDefault');
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.enableServiceLinks).toBe(false);
    expect(main.securityContext).toMatchObject({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    });
    expect(main.volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    expect(pod.volumes?.find((v) => v.name === 'tmp')?.emptyDir?.sizeLimit).toBeDefined();
  });

  it('puts the capture finalizer, labels and annotations on the pod template', () => {
    const meta = job.spec!.template.metadata!;
    expect(meta.finalizers).toEqual(['assay.dev/capture']);
    expect(meta.labels).toMatchObject({
      'assay.dev/evaluation-id': request.evaluationId,
      'assay.dev/attempt': '2',
      'assay.dev/team': 'ml',
      'assay.dev/user': 'ada',
      'assay.dev/priority': 'high',
      'cost-center': 'research',
    });
    expect(meta.annotations).toMatchObject({
      'assay.dev/workflow-id': request.workflowId,
      'assay.dev/run-id': 'run-1',
    });
    expect(job.metadata?.labels).toEqual(meta.labels);
  });

  it('maps the image, command, env and resources', () => {
    expect(main.image).toBe('localhost/assay/python:3');
    expect(main.imagePullPolicy).toBe('Never');
    expect(main.command).toEqual(['python3', '-c']);
    expect(main.args).toEqual(['print(1)']);
    expect(main.env).toContainEqual({ name: 'MODE', value: 'fast' });
    expect(main.env).toContainEqual({
      name: 'TOKEN',
      valueFrom: { secretKeyRef: { name: 'creds', key: 'token' } },
    });
    expect(main.resources?.limits).toEqual({ cpu: '500m', memory: '256Mi', 'ephemeral-storage': '1Gi' });
    expect(main.resources?.requests).toEqual({ cpu: '250m', memory: '256Mi', 'ephemeral-storage': '1Gi' });
  });

  it('is deterministic', () => {
    expect(buildJob(request, noCollector)).toEqual(job);
  });

  it('adds GPU limits and the runtime class when asked', () => {
    const gpuJob = buildJob(
      {
        ...request,
        resources: { ...request.resources, gpu: { count: 2, type: 'a100' } },
        runtimeClassName: 'gvisor',
      },
      noCollector,
    );
    expect(gpuJob.spec?.template.spec?.containers[0]?.resources?.limits?.['nvidia.com/gpu']).toBe('2');
    expect(gpuJob.spec?.template.spec?.containers[0]?.resources?.requests?.['nvidia.com/gpu']).toBe('2');
    expect(gpuJob.spec?.template.spec?.runtimeClassName).toBe('gvisor');
  });
});

describe('buildJob: the collector sidecar comes from the cluster', () => {
  const withOutputs: JobRequest = {
    ...request,
    outputs: { result: { path: 'result.json', maxBytes: 4096 }, artifacts: null },
  };

  it("uses the cluster's image and pull policy as given", () => {
    const job = buildJob(withOutputs, {
      collector: { image: 'registry.example/assay/collector:2', imagePullPolicy: 'Always' },
    });
    const collector = job.spec!.template.spec!.containers.find((c) => c.name === collectorContainerName);
    expect(collector).toMatchObject({
      image: 'registry.example/assay/collector:2',
      imagePullPolicy: 'Always',
    });
  });

  it('refuses outputs on a cluster without a collector, naming the config field', () => {
    expect(() => buildJob(withOutputs, noCollector)).toThrow(CollectorNotConfiguredError);
    expect(() => buildJob(withOutputs, noCollector)).toThrow('clusters[].collector.image');
  });

  it('needs no collector when nothing is declared', () => {
    const containers = buildJob({ ...request, outputs: null }, noCollector).spec!.template.spec!.containers;
    expect(containers.map((c) => c.name)).toEqual(['main']);
  });
});

describe('buildNamespace', () => {
  it('enforces the restricted Pod Security Standard', () => {
    expect(buildNamespace('assay-ml', 'ml').metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe(
      'restricted',
    );
  });
});

describe('attemptSelector', () => {
  it('selects one attempt', () => {
    expect(attemptSelector('abc', 3)).toBe('assay.dev/evaluation-id=abc,assay.dev/attempt=3');
  });
});

// Exact figures, written out: a change of any deadline, limit or size must show up here as a failing line.
describe('buildJob bounds, exactly', () => {
  const bounded: JobRequest = {
    ...request,
    timeoutSeconds: 600,
    outputs: {
      result: { path: 'result.json', maxBytes: 4 * 1024 * 1024 },
      artifacts: { paths: ['**'], maxBytes: 2 * 1024 ** 3, maxFiles: 100 },
    },
  };
  const job = buildJob(bounded, {
    collector: { image: 'localhost/assay/collector:1', imagePullPolicy: 'Never' },
  });
  const pod = job.spec!.template.spec!;
  const container = (name: string) => pod.containers.find((c) => c.name === name)!;

  it('deadlines: the pod at the timeout + 30 s, the Job 90 s after the pod; nothing retried by Kubernetes', () => {
    expect(pod.activeDeadlineSeconds).toBe(630);
    expect(job.spec?.activeDeadlineSeconds).toBe(720);
    expect(job.spec).toMatchObject({ backoffLimit: 0, completions: 1, parallelism: 1 });
    expect(pod.restartPolicy).toBe('Never');
    expect(pod.terminationGracePeriodSeconds).toBe(10);
    expect(job.spec?.ttlSecondsAfterFinished).toBe(86_400);
  });

  it('main: requests and limits exactly as asked, nothing added', () => {
    expect(container('main').resources).toEqual({
      requests: { cpu: '250m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
      limits: { cpu: '500m', memory: '256Mi', 'ephemeral-storage': '1Gi' },
    });
  });

  it('collector: its fixed small requests and limits', () => {
    expect(container('collector').resources).toEqual({
      requests: { cpu: '10m', memory: '16Mi', 'ephemeral-storage': '1Mi' },
      limits: { cpu: '1', memory: '64Mi', 'ephemeral-storage': '16Mi' },
    });
  });

  it('volumes: /tmp 1 GiB, the result and artifact directories bounded by what the spec accepts', () => {
    expect(pod.volumes).toEqual([
      { name: 'tmp', emptyDir: { sizeLimit: '1Gi' } },
      { name: 'assay-result', emptyDir: { sizeLimit: String(4 * 1024 * 1024) } },
      // maxBytes plus 8 KiB of block slack per file: 100 small files fit although each uses whole blocks.
      { name: 'assay-artifacts', emptyDir: { sizeLimit: String(2 * 1024 ** 3 + 100 * 8192) } },
    ]);
  });
});

describe('pod labels for cost tools', () => {
  it('adds assay.dev/cost-center from the spec label and the GPU type annotation', () => {
    const gpuRequest: JobRequest = {
      ...request,
      resources: { ...request.resources, gpu: { count: 1, type: 'a100' } },
      labels: { 'cost-center': 'cc-7' },
    };
    const template = buildJob(gpuRequest, noCollector).spec!.template.metadata!;
    expect(template.labels).toMatchObject({
      [labelKeys.costCenter]: 'cc-7',
      [labelKeys.team]: 'ml',
      [labelKeys.user]: 'ada',
      [labelKeys.evaluationId]: request.evaluationId,
    });
    expect(template.annotations?.[annotationKeys.gpuType]).toBe('a100');
  });
});
