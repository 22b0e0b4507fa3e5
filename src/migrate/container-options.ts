/**
 * What a `docker run` line or a compose service says about one container, gathered into one shape, and its
 * translation into an EvaluationJob manifest (docs/migration.md has the table). Assay's pods always run under the
 * `restricted` Pod Security Standard — non-root, read-only root filesystem, every capability dropped, no privilege
 * escalation, `RuntimeDefault` seccomp, no service-account token — so Docker options that ask for less isolation
 * cannot be honoured: each one becomes a warning that says why, and the manifest runs without it.
 */
import { evaluationJobApiVersion, evaluationJobKind } from '../spec/spec-constants.js';
import { evaluationUid } from '../activities/job-manifest.js';

/** One container's options, whichever file or command line they came from. */
export interface ContainerOptions {
  image: string | null;
  name: string | null;
  /** Docker's `--entrypoint` (a single executable) or compose's `entrypoint` list. */
  entrypoint: string[] | null;
  /** What follows the image (Docker's CMD). */
  cmd: string[];
  env: { name: string; value: string }[];
  workdir: string | null;
  user: string | null;
  labels: Record<string, string>;
  /** Bytes. */
  memoryLimit: number | null;
  memoryReservation: number | null;
  /** Cores. */
  cpus: number | null;
  cpuReservation: number | null;
  gpus: { count: number; note: string | null } | null;
  /** Retries from a restart policy (`on-failure:N`). */
  maxRetries: number | null;
  /** Options that need a warning, by the option's own spelling. */
  warnings: MigrationWarning[];
}

/** An option that was not carried over as given, and why. */
export interface MigrationWarning {
  readonly option: string;
  readonly reason: string;
}

export function emptyOptions(): ContainerOptions {
  return {
    image: null,
    name: null,
    entrypoint: null,
    cmd: [],
    env: [],
    workdir: null,
    user: null,
    labels: {},
    memoryLimit: null,
    memoryReservation: null,
    cpus: null,
    cpuReservation: null,
    gpus: null,
    maxRetries: null,
    warnings: [],
  };
}

/** Why each isolation-lowering option is not carried over (shared by the command line and compose). */
export const refusals = {
  privileged:
    'refused: privileged containers break the restricted Pod Security Standard; the evaluation runs unprivileged',
  capAdd: (cap: string) =>
    `refused: capability ${cap} cannot be added under the restricted Pod Security Standard; every capability is dropped`,
  hostNamespace: (what: string) =>
    `refused: sharing the host's ${what} namespace breaks the restricted Pod Security Standard`,
  device: 'refused: host devices cannot be mapped; ask for GPUs with resources.gpu',
  seccompUnconfined:
    'refused: seccomp stays at RuntimeDefault (the restricted floor); an unconfined container cannot be asked for',
  seccompProfile:
    'not mapped: custom seccomp profiles are installed on the nodes by the operator, not per evaluation',
  apparmor: 'not mapped: AppArmor profiles are chosen by the cluster where its nodes support AppArmor',
  selinux: 'not mapped: SELinux labels are chosen by the cluster',
  volume:
    'not portable: host paths do not exist on cluster nodes; /tmp is a writable scratch directory, ' +
    'declare outputs with artifacts: and result:, bake inputs into the image',
  ports: 'ignored: an evaluation serves no ports',
  networkHost: 'refused: host networking breaks the restricted Pod Security Standard',
  network:
    'not mapped: the pod network is the cluster CNI, not a Docker network; what an evaluation may reach is the ' +
    "cluster's network policy",
  rootUser: `refused: evaluations run as a non-root user (UID ${evaluationUid}); the image must work without root`,
  otherUser: `not mapped: evaluations run as UID ${evaluationUid}; files the image needs must be readable by it`,
  tty: 'ignored: an evaluation has no terminal or stdin; its output is captured from stdout and stderr',
  ignored: 'ignored: no equivalent for an evaluation pod',
} as const;

/** Docker's memory notation (`512m`, `2g`, `1073741824`, `1.5g`) in bytes; null when unreadable. */
export function dockerBytes(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([bkmgt]?)b?$/i.exec(text.trim());
  if (m === null) return null;
  const unit = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }[m[2]!.toLowerCase()] ?? 1;
  return Math.round(Number(m[1]) * unit);
}

/** Bytes as the shortest exact binary quantity (`512Mi`, `2Gi`), else whole Ki, else bytes. */
export function byteQuantity(bytes: number): string {
  for (const [suffix, size] of [
    ['Ti', 1024 ** 4],
    ['Gi', 1024 ** 3],
    ['Mi', 1024 ** 2],
    ['Ki', 1024],
  ] as const) {
    if (bytes % size === 0) return `${bytes / size}${suffix}`;
  }
  return String(bytes);
}

/** Cores as a CPU quantity (`2`, `1500m`). */
export function cpuQuantity(cores: number): string {
  const millis = Math.round(cores * 1000);
  return millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`;
}

/** A DNS-1123 label from a container name (`My_Eval.1` → `my-eval-1`), or null when nothing is left. */
export function dnsName(name: string): string | null {
  const label = name
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return label === '' ? null : label;
}

/** Reads `KEY=value` lines (Docker's `--env-file` format: `#` comments, blank lines, no quoting). */
export function parseEnvFile(text: string): { name: string; value: string | null }[] {
  const out: { name: string; value: string | null }[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    out.push(eq < 0 ? { name: line, value: null } : { name: line.slice(0, eq), value: line.slice(eq + 1) });
  }
  return out;
}

/** Who the evaluation is for; the manifest needs both. */
export interface ManifestOwner {
  readonly team: string;
  readonly user: string;
}

/**
 * The EvaluationJob manifest for these options (not yet validated: the caller checks it with the schema), or null
 * when there is no image to run.
 */
export function toManifest(options: ContainerOptions, owner: ManifestOwner): Record<string, unknown> | null {
  if (options.image === null) return null;
  const spec: Record<string, unknown> = { team: owner.team, user: owner.user, image: options.image };
  if (options.entrypoint !== null) {
    spec.command = options.entrypoint;
    if (options.cmd.length > 0) spec.args = options.cmd;
  } else if (options.cmd.length > 0) {
    // Docker's CMD is what Kubernetes calls args: the image's ENTRYPOINT still runs.
    spec.args = options.cmd;
  }
  if (options.env.length > 0) spec.env = options.env;
  if (options.workdir !== null) spec.workingDir = options.workdir;
  const resources: Record<string, unknown> = {};
  const limits: Record<string, string> = {};
  const memoryRequest = options.memoryReservation ?? options.memoryLimit;
  if (memoryRequest !== null) resources.memory = byteQuantity(memoryRequest);
  if (options.memoryLimit !== null && options.memoryLimit !== memoryRequest)
    limits.memory = byteQuantity(options.memoryLimit);
  const cpuRequest = options.cpuReservation ?? options.cpus;
  if (cpuRequest !== null) resources.cpu = cpuQuantity(cpuRequest);
  if (options.cpus !== null && options.cpus !== cpuRequest) limits.cpu = cpuQuantity(options.cpus);
  if (Object.keys(limits).length > 0) resources.limits = limits;
  if (options.gpus !== null) resources.gpu = { count: options.gpus.count };
  if (Object.keys(resources).length > 0) spec.resources = resources;
  if (options.maxRetries !== null) spec.retries = { maxAttempts: options.maxRetries + 1 };
  const metadata: Record<string, unknown> = {};
  const name = options.name === null ? null : dnsName(options.name);
  if (name !== null) metadata.name = name;
  if (Object.keys(options.labels).length > 0) metadata.labels = options.labels;
  return {
    apiVersion: evaluationJobApiVersion,
    kind: evaluationJobKind,
    ...(Object.keys(metadata).length > 0 ? { metadata } : {}),
    spec,
  };
}
