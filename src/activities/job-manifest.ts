/**
 * Builds the Kubernetes objects of one attempt (the pod anatomy of docs/architecture.md). Pure: the same request and
 * cluster settings always give the same objects, so creating them is idempotent by name.
 */
import { traceEnv } from '../spec/trace-context.js';
import type {
  V1AppArmorProfile,
  V1Container,
  V1EnvVar,
  V1Job,
  V1Namespace,
  V1ResourceRequirements,
  V1SeccompProfile,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import { assayArtifactsDir, assayResultDir } from '../spec/spec-constants.js';
import type { JobRequest, JobSecurity } from '../spec/job-request.js';
import type { CollectorSettings } from '../spec/worker-config.js';
import { attemptJobName } from '../spec/names.js';
import { annotationKeys, captureFinalizer, labelKeys, managedByValue } from '../spec/kube-labels.js';

/** Name of the container that runs the user's image. */
export const mainContainerName = 'main';
/** Numeric uid/gid the evaluation runs as: the restricted Pod Security Standard needs a provable non-root user. */
export const evaluationUid = 65532;
/** How long a finished Job may linger if cleanup never ran (a safety net; cleanup deletes it at once). */
export const ttlSecondsAfterFinished = 24 * 60 * 60;
/**
 * Extra time the Job-level deadline allows over the pod-level one: the kubelet enforces the evaluation's timeout on
 * the pod (reason `DeadlineExceeded`); the Job's deadline only catches a pod that never started.
 */
export const jobDeadlineSlackSeconds = 120;
/**
 * The pod's own deadline is only a backstop: the wait activity stops the main container at `timeoutSeconds` after it
 * started (the kubelet enforces `activeDeadlineSeconds` late, on its next sync, and counts from the pod's start).
 */
export const podDeadlineSlackSeconds = 30;
/** Grace period for the main container when the pod is deleted (cancellation, cleanup). */
export const terminationGracePeriodSeconds = 10;
/** Size limit of the writable scratch directory mounted at `/tmp` (the root filesystem is read-only). */
export const scratchSizeLimit = '1Gi';
/** Name of the sidecar that keeps the pod alive after `main` so its result and artifacts can be read (`exec tar`). */
export const collectorContainerName = 'collector';
/** Volume names of the shared result and artifact directories. */
export const resultVolumeName = 'assay-result';
export const artifactsVolumeName = 'assay-artifacts';
/**
 * The collector idles until the pod is deleted. A regular container, not a native sidecar: Kubernetes stops native
 * sidecars as soon as the main containers end, and the point is to outlive `main`. The workflow detects the end
 * from `main`'s own status, so the pod still running does not hide it.
 */
export const collectorCommand = [
  'sh',
  '-c',
  'trap "exit 0" TERM INT; while :; do sleep 3600 & wait $!; done',
];

/** Labels every object of this attempt carries; also the selector that finds its pods. */
export function attemptLabels(request: JobRequest): Record<string, string> {
  return {
    ...request.labels,
    [labelKeys.managedBy]: managedByValue,
    [labelKeys.evaluationId]: request.evaluationId,
    [labelKeys.attempt]: String(request.attempt),
    [labelKeys.team]: request.team,
    [labelKeys.user]: request.user,
    [labelKeys.priority]: request.priority,
    ...(request.labels['cost-center'] !== undefined
      ? { [labelKeys.costCenter]: request.labels['cost-center'] }
      : {}),
  };
}

/** Label selector matching exactly the pods of this attempt. */
export function attemptSelector(evaluationId: string, attempt: number): string {
  return `${labelKeys.evaluationId}=${evaluationId},${labelKeys.attempt}=${attempt}`;
}

/** The namespace for a team's evaluations, labelled so the `restricted` Pod Security Standard is enforced. */
export function buildNamespace(name: string, team: string): V1Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name,
      labels: {
        [labelKeys.managedBy]: managedByValue,
        [labelKeys.team]: team,
        'pod-security.kubernetes.io/enforce': 'restricted',
        'pod-security.kubernetes.io/enforce-version': 'latest',
        'pod-security.kubernetes.io/warn': 'restricted',
        'pod-security.kubernetes.io/audit': 'restricted',
      },
    },
  };
}

function resourceRequirements(resources: JobRequest['resources']): V1ResourceRequirements {
  const amounts = (a: JobRequest['resources']['requests']): Record<string, string> => ({
    cpu: a.cpu,
    memory: a.memory,
    'ephemeral-storage': a.ephemeralStorage,
  });
  const requests = amounts(resources.requests);
  const limits = amounts(resources.limits);
  if (resources.gpu !== null && resources.gpu.count > 0) {
    // Kubernetes requires GPU requests to equal limits.
    requests['nvidia.com/gpu'] = String(resources.gpu.count);
    limits['nvidia.com/gpu'] = String(resources.gpu.count);
  }
  return { requests, limits };
}

/** The pod's seccomp profile: the runtime's default, or the strict Localhost profile the request names. */
export function seccompProfile(security: JobSecurity | undefined): V1SeccompProfile {
  return security?.seccompProfile != null
    ? { type: 'Localhost', localhostProfile: security.seccompProfile }
    : { type: 'RuntimeDefault' };
}

/** The pod's AppArmor profile, or none where the cluster declares no AppArmor (the kubelet would refuse the pod). */
export function appArmorProfile(security: JobSecurity | undefined): V1AppArmorProfile | undefined {
  const profile = security?.appArmor;
  if (profile == null) return undefined;
  return profile === 'RuntimeDefault'
    ? { type: 'RuntimeDefault' }
    : { type: 'Localhost', localhostProfile: profile.localhost };
}

/** The restricted Pod Security Standard, per container. */
function containerSecurity(security: JobSecurity | undefined): V1SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    privileged: false,
    readOnlyRootFilesystem: true,
    runAsNonRoot: true,
    capabilities: { drop: ['ALL'] },
    seccompProfile: seccompProfile(security),
  };
}

function imagePullPolicy(image: string): string {
  // Images are local to the node; Assay never relies on a registry being reachable.
  return image.startsWith('localhost/') ? 'Never' : 'IfNotPresent';
}

/**
 * Disk a file may use beyond its bytes: its last block (filesystems allocate 4 KiB blocks) and, at most one per file,
 * the block of a directory. The kubelet measures an emptyDir's usage in blocks, so without this slack a directory of
 * many small files would be evicted while its bytes are well under `maxBytes`.
 */
export const perFileDiskSlackBytes = 8 * 1024;

/** The emptyDirs of the result and artifacts, each limited to what the spec accepts (plus block slack). */
function outputVolumes(request: JobRequest): V1Volume[] {
  const outputs = request.outputs;
  if (outputs === null || outputs === undefined) return [];
  const volumes: V1Volume[] = [];
  if (outputs.result !== null) {
    volumes.push({ name: resultVolumeName, emptyDir: { sizeLimit: String(outputs.result.maxBytes) } });
  }
  if (outputs.artifacts !== null) {
    const { maxBytes, maxFiles } = outputs.artifacts;
    volumes.push({
      name: artifactsVolumeName,
      emptyDir: { sizeLimit: String(maxBytes + maxFiles * perFileDiskSlackBytes) },
    });
  }
  return volumes;
}

function outputMounts(request: JobRequest, readOnly: boolean): V1VolumeMount[] {
  const outputs = request.outputs;
  if (outputs === null || outputs === undefined) return [];
  const mounts: V1VolumeMount[] = [];
  if (outputs.result !== null) mounts.push({ name: resultVolumeName, mountPath: assayResultDir, readOnly });
  if (outputs.artifacts !== null) {
    mounts.push({ name: artifactsVolumeName, mountPath: assayArtifactsDir, readOnly });
  }
  return mounts;
}

function outputEnv(request: JobRequest): V1EnvVar[] {
  const outputs = request.outputs;
  if (outputs === null || outputs === undefined) return [];
  const env: V1EnvVar[] = [];
  if (outputs.result !== null) {
    env.push(
      { name: 'ASSAY_RESULT_DIR', value: assayResultDir },
      { name: 'ASSAY_RESULT_PATH', value: `${assayResultDir}/${outputs.result.path}` },
    );
  }
  if (outputs.artifacts !== null) env.push({ name: 'ASSAY_ARTIFACTS_DIR', value: assayArtifactsDir });
  return env;
}

/**
 * Thrown by {@link buildJob} for an attempt that declares a result file or artifacts on a cluster whose registry
 * entry names no collector image.
 */
export class CollectorNotConfiguredError extends Error {
  constructor(readonly evaluationId: string) {
    super(
      `evaluation ${evaluationId} declares a result file or artifacts, but this cluster has no collector image ` +
        '(set clusters[].collector.image in the worker config)',
    );
    this.name = 'CollectorNotConfiguredError';
  }
}

/** The collector sidecar, or none when the spec declares neither a result file nor artifacts. */
function collectorContainers(request: JobRequest, collector: CollectorSettings | null): V1Container[] {
  if (request.outputs === null || request.outputs === undefined) return [];
  if (collector === null) throw new CollectorNotConfiguredError(request.evaluationId);
  return [
    {
      name: collectorContainerName,
      image: collector.image,
      imagePullPolicy: collector.imagePullPolicy,
      command: collectorCommand,
      // Small and fixed: `tar` streams; the page cache it fills is reclaimable.
      resources: {
        requests: { cpu: '10m', memory: '16Mi', 'ephemeral-storage': '1Mi' },
        limits: { cpu: '1', memory: '64Mi', 'ephemeral-storage': '16Mi' },
      },
      terminationMessagePolicy: 'File',
      securityContext: containerSecurity(request.security),
      // Read-only: the collector reads what `main` left and can change none of it.
      volumeMounts: outputMounts(request, true),
    },
  ];
}

function envVars(request: JobRequest): V1EnvVar[] {
  const user: V1EnvVar[] = request.env.map((e) =>
    'value' in e
      ? { name: e.name, value: e.value }
      : { name: e.name, valueFrom: { secretKeyRef: { name: e.secretRef.name, key: e.secretRef.key } } },
  );
  return [
    ...user,
    { name: 'ASSAY_EVALUATION_ID', value: request.evaluationId },
    { name: 'ASSAY_ATTEMPT', value: String(request.attempt) },
    ...outputEnv(request),
    ...traceEnv(request),
    // Tools that write caches under $HOME need a writable one; the root filesystem is read-only.
    ...(request.env.some((e) => e.name === 'HOME') ? [] : [{ name: 'HOME', value: '/tmp' }]),
  ];
}

/** What the cluster the attempt runs on contributes to its Job (from the cluster's registry entry). */
export interface JobClusterSettings {
  /** The collector sidecar's image and pull policy; null where the cluster has none. */
  readonly collector: CollectorSettings | null;
  /** Pods run under the PriorityClass `assay-<priority>` (which the quota backstop creates; docs/quota.md). */
  readonly priorityClasses?: boolean;
}

/**
 * The Job of attempt `request.attempt`, named `assay-<evaluationId>-<attempt>`.
 *
 * The pod is hardened so the `restricted` Pod Security Standard admits it, never retried by Kubernetes (the workflow
 * owns retries), and carries the `assay.dev/capture` finalizer so it outlives its end until the workflow has read it.
 *
 * @throws CollectorNotConfiguredError when the request declares outputs and `cluster.collector` is null.
 */
export function buildJob(request: JobRequest, cluster: JobClusterSettings): V1Job {
  const name = attemptJobName(request.evaluationId, request.attempt);
  const labels = attemptLabels(request);
  const appArmor = appArmorProfile(request.security);
  const annotations = {
    [annotationKeys.workflowId]: request.workflowId,
    [annotationKeys.runId]: request.runId,
    [annotationKeys.image]: request.image,
    ...(request.resources.gpu?.type != null ? { [annotationKeys.gpuType]: request.resources.gpu.type } : {}),
  };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name, namespace: request.namespace, labels, annotations },
    spec: {
      backoffLimit: 0,
      completions: 1,
      parallelism: 1,
      activeDeadlineSeconds: request.timeoutSeconds + jobDeadlineSlackSeconds,
      ttlSecondsAfterFinished,
      template: {
        metadata: { labels, annotations, finalizers: [captureFinalizer] },
        spec: {
          restartPolicy: 'Never',
          activeDeadlineSeconds: request.timeoutSeconds + podDeadlineSlackSeconds,
          terminationGracePeriodSeconds,
          // The sandbox's pause process is PID 1, not the evaluation's command: a command that installs no SIGTERM
          // handler (a shell, Python) then ends at once when its pod is stopped (timeout, cancel), as it would
          // outside a container, instead of being killed by the kubelet two seconds later.
          shareProcessNamespace: true,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...(request.runtimeClassName !== null ? { runtimeClassName: request.runtimeClassName } : {}),
          ...(cluster.priorityClasses === true ? { priorityClassName: `assay-${request.priority}` } : {}),
          securityContext: {
            runAsNonRoot: true,
            runAsUser: evaluationUid,
            runAsGroup: evaluationUid,
            fsGroup: evaluationUid,
            seccompProfile: seccompProfile(request.security),
            ...(appArmor !== undefined ? { appArmorProfile: appArmor } : {}),
          },
          containers: [
            {
              name: mainContainerName,
              image: request.image,
              imagePullPolicy: imagePullPolicy(request.image),
              ...(request.command.length > 0 ? { command: request.command } : {}),
              ...(request.args.length > 0 ? { args: request.args } : {}),
              ...(request.workingDir !== null ? { workingDir: request.workingDir } : {}),
              env: envVars(request),
              resources: resourceRequirements(request.resources),
              terminationMessagePath: '/dev/termination-log',
              terminationMessagePolicy: 'FallbackToLogsOnError',
              securityContext: containerSecurity(request.security),
              volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }, ...outputMounts(request, false)],
            },
            ...collectorContainers(request, cluster.collector),
          ],
          volumes: [{ name: 'tmp', emptyDir: { sizeLimit: scratchSizeLimit } }, ...outputVolumes(request)],
        },
      },
    },
  };
}
