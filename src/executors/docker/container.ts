/**
 * The container of one attempt on a Docker engine (pure, unit-tested): the same contract and restrictions as the
 * Kubernetes pod (docs/architecture.md, "Pod anatomy"; docs/security.md) in the Engine API's terms.
 */
import { traceEnv } from '../../spec/trace-context.js';
import { attemptLabels } from '../../activities/job-manifest.js';
import { annotationKeys } from '../../spec/kube-labels.js';
import type { JobRequest } from '../../spec/job-request.js';
import { parseBytes, parseCpu } from '../../spec/quantity.js';
import { assayArtifactsDir, assayResultDir } from '../../spec/spec-constants.js';
import { strictSeccompProfile } from '../../security/seccomp.js';
import type { DockerEngineSettings } from '../../spec/worker-config.js';
import { attemptJobName } from '../../spec/names.js';

/** The user every evaluation container runs as (the restricted standard's non-root user, as on Kubernetes). */
export const containerUser = '65532:65532';
/** Where the attempt's output volume is mounted: `result/` and `artifacts/` under it, like the pod's emptyDirs. */
export const outputsMount = assayResultDir.slice(0, assayResultDir.lastIndexOf('/'));

/** Why an attempt cannot run on a Docker engine (a configuration error of the evaluation on this executor). */
export class DockerUnsupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DockerUnsupportedError';
  }
}

/** The container (and output volume) name of an attempt: the Kubernetes Job's name. */
export function attemptContainerName(evaluationId: string, attempt: number): string {
  return attemptJobName(evaluationId, attempt);
}

function bytesOf(quantity: string, field: string): number {
  const parsed = parseBytes(quantity);
  if (!parsed.ok) throw new DockerUnsupportedError(`${field}: ${parsed.message}`);
  return parsed.value.bytes;
}

/** The body of `POST /containers/create` for the attempt, and the name to create it under. */
export function buildContainer(
  request: JobRequest,
  settings: DockerEngineSettings,
): { name: string; volume: string | null; body: Record<string, unknown> } {
  const name = attemptContainerName(request.evaluationId, request.attempt);
  const secret = request.env.find((e) => !('value' in e));
  if (secret !== undefined) {
    throw new DockerUnsupportedError(
      `env ${secret.name}: secretRef needs Kubernetes Secrets; a Docker engine has none`,
    );
  }
  if ((request.resources.gpu?.count ?? 0) > 0) {
    throw new DockerUnsupportedError('resources.gpu: the Docker executor runs no GPU evaluations');
  }
  const security = request.security;
  if (security !== undefined && security.runtime !== 'default') {
    throw new DockerUnsupportedError(
      `security.runtime ${security.runtime}: not offered by the Docker executor`,
    );
  }
  const egress = (security?.egress.length ?? 0) > 0;
  if (egress && settings.egressNetwork === null) {
    throw new DockerUnsupportedError(
      'network.egress: this Docker engine has no egress network (clusters[].docker.egressNetwork)',
    );
  }
  const outputs = request.outputs ?? null;
  const volume = outputs !== null ? name : null;
  const env = [
    ...request.env.flatMap((e) => ('value' in e ? [`${e.name}=${e.value}`] : [])),
    `ASSAY_EVALUATION_ID=${request.evaluationId}`,
    `ASSAY_ATTEMPT=${request.attempt}`,
    ...(outputs?.result != null
      ? [`ASSAY_RESULT_DIR=${assayResultDir}`, `ASSAY_RESULT_PATH=${assayResultDir}/${outputs.result.path}`]
      : []),
    ...(outputs?.artifacts != null ? [`ASSAY_ARTIFACTS_DIR=${assayArtifactsDir}`] : []),
    ...traceEnv(request).map((v) => `${v.name}=${v.value}`),
    ...(request.env.some((e) => e.name === 'HOME') ? [] : ['HOME=/tmp']),
  ];
  const memory = bytesOf(request.resources.limits.memory, 'resources.limits.memory');
  const cpu = parseCpu(request.resources.limits.cpu);
  if (!cpu.ok) throw new DockerUnsupportedError(`resources.limits.cpu: ${cpu.message}`);
  const tmpBytes = bytesOf(request.resources.limits.ephemeralStorage, 'resources.limits.ephemeralStorage');
  const seccomp = security?.seccomp === 'strict' ? [`seccomp=${JSON.stringify(strictSeccompProfile())}`] : [];
  return {
    name,
    volume,
    body: {
      Image: request.image,
      ...(request.command.length > 0 ? { Entrypoint: request.command } : {}),
      ...(request.args.length > 0 ? { Cmd: request.args } : request.command.length > 0 ? { Cmd: [] } : {}),
      Env: env,
      ...(request.workingDir !== null ? { WorkingDir: request.workingDir } : {}),
      User: containerUser,
      Labels: {
        ...attemptLabels(request),
        [annotationKeys.workflowId]: request.workflowId,
        [annotationKeys.runId]: request.runId,
      },
      AttachStdin: false,
      Tty: false,
      OpenStdin: false,
      NetworkDisabled: !egress,
      HostConfig: {
        ReadonlyRootfs: true,
        Tmpfs: { '/tmp': `rw,nosuid,nodev,size=${tmpBytes},mode=1777` },
        // Docker's default seccomp profile unless the spec asks for Assay's strict one.
        SecurityOpt: ['no-new-privileges', ...seccomp],
        CapDrop: ['ALL'],
        NetworkMode: egress ? settings.egressNetwork : 'none',
        PidsLimit: settings.pidsLimit,
        Memory: memory,
        MemorySwap: memory,
        NanoCpus: cpu.value.millicores * 1_000_000,
        Privileged: false,
        Init: false,
        LogConfig: { Type: 'json-file', Config: {} },
        RestartPolicy: { Name: 'no' },
        ...(volume !== null ? { Mounts: [{ Type: 'volume', Source: volume, Target: outputsMount }] } : {}),
      },
    },
  };
}
