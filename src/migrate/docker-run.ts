/**
 * `docker run [OPTIONS] IMAGE [COMMAND] [ARG...]` read into {@link ContainerOptions}. The option table follows the
 * Docker CLI's own: an option not in it is an error (guessing whether it takes a value would misread the image).
 */
import {
  dockerBytes,
  emptyOptions,
  parseEnvFile,
  refusals,
  type ContainerOptions,
  type MigrationWarning,
} from './container-options.js';

/** A command line that cannot be read; the message names the option. */
export class DockerRunParseError extends Error {
  override readonly name = 'DockerRunParseError';
}

/** Reads files named by options (`--env-file`, `--label-file`). */
export type ReadTextFile = (path: string) => string;

type Handler = (o: ContainerOptions, value: string, ctx: Context) => void;

interface Context {
  readonly option: string;
  readonly readFile: ReadTextFile;
  readonly hostEnv: Readonly<Record<string, string | undefined>>;
  warn(reason: string): void;
}

function setEnv(o: ContainerOptions, name: string, value: string): void {
  o.env = o.env.filter((e) => e.name !== name);
  o.env.push({ name, value });
}

function envEntry(o: ContainerOptions, text: string, ctx: Context): void {
  const eq = text.indexOf('=');
  if (eq > 0) {
    setEnv(o, text.slice(0, eq), text.slice(eq + 1));
    return;
  }
  // `-e NAME` passes the host's value through: copied from this shell, when it has one.
  const hostValue = ctx.hostEnv[text];
  if (hostValue === undefined) {
    ctx.warn(`${text} takes its value from the host environment, which has none here: left out`);
  } else {
    setEnv(o, text, hostValue);
    ctx.warn(`${text}: the value was copied from this shell's environment; check it belongs in the manifest`);
  }
}

function bytesOf(value: string, ctx: Context): number {
  const bytes = dockerBytes(value);
  if (bytes === null) throw new DockerRunParseError(`${ctx.option}: ${JSON.stringify(value)} is not a size`);
  return bytes;
}

function coresOf(value: string, ctx: Context): number {
  const cores = Number(value);
  if (!Number.isFinite(cores) || cores <= 0)
    throw new DockerRunParseError(`${ctx.option}: ${JSON.stringify(value)} is not a number of CPUs`);
  return cores;
}

function gpusOf(value: string, ctx: Context): ContainerOptions['gpus'] {
  const text = value.replace(/^"|"$/g, '');
  if (text === 'all') {
    ctx.warn('all GPUs of a host has no cluster equivalent: asking for 1; set resources.gpu.count');
    return { count: 1, note: 'all' };
  }
  if (/^\d+$/.test(text)) return { count: Number(text), note: null };
  const devices = /(?:^|,)device=([^,]+(?:,[^=,]+)*)/.exec(text)?.[1];
  if (devices !== undefined) {
    const count = devices.split(',').length;
    ctx.warn(`specific devices (${devices}) are chosen by the scheduler on a cluster: asking for ${count}`);
    return { count, note: devices };
  }
  const count = /(?:^|,)count=(\d+|all)/.exec(text)?.[1];
  if (count !== undefined) return count === 'all' ? gpusOf('all', ctx) : { count: Number(count), note: null };
  throw new DockerRunParseError(`${ctx.option}: ${JSON.stringify(value)} is not a GPU request`);
}

function securityOpt(value: string, ctx: Context): void {
  const [key, rest = ''] = value.split(/[=:](.*)/s, 2) as [string, string?];
  switch (key) {
    case 'no-new-privileges':
      if (rest === 'false') ctx.warn('refused: privilege escalation is always disabled');
      return; // Always on.
    case 'seccomp':
      ctx.warn(rest === 'unconfined' ? refusals.seccompUnconfined : refusals.seccompProfile);
      return;
    case 'apparmor':
      ctx.warn(refusals.apparmor);
      return;
    case 'label':
      ctx.warn(refusals.selinux);
      return;
    default:
      ctx.warn(refusals.ignored);
  }
}

const hostNamespaceOption =
  (what: string): Handler =>
  (_o, value, ctx) => {
    if (value === 'host') ctx.warn(refusals.hostNamespace(what));
    else if (value !== 'private' && value !== '' && value !== 'shareable') ctx.warn(refusals.ignored);
  };

const warnOnly =
  (reason: string): Handler =>
  (_o, _value, ctx) =>
    ctx.warn(reason);

/** Options that take a value, by every spelling. */
const valueOptions: Record<string, Handler> = {
  '--env': (o, v, ctx) => envEntry(o, v, ctx),
  '--env-file': (o, v, ctx) => {
    for (const { name, value } of parseEnvFile(ctx.readFile(v))) {
      if (value === null) envEntry(o, name, ctx);
      else setEnv(o, name, value);
    }
  },
  '--workdir': (o, v) => void (o.workdir = v),
  '--user': (o, v, ctx) => {
    const who = v.split(':')[0]!;
    ctx.warn(who === '0' || who === 'root' ? refusals.rootUser : refusals.otherUser);
  },
  '--memory': (o, v, ctx) => void (o.memoryLimit = bytesOf(v, ctx)),
  '--memory-reservation': (o, v, ctx) => void (o.memoryReservation = bytesOf(v, ctx)),
  '--memory-swap': warnOnly('ignored: pods have no swap'),
  '--cpus': (o, v, ctx) => void (o.cpus = coresOf(v, ctx)),
  '--cpu-shares': warnOnly('not mapped: relative CPU weights; set resources.cpu (a request) instead'),
  '--cpuset-cpus': warnOnly('not mapped: CPU pinning is the kubelet CPU manager policy of the node'),
  '--gpus': (o, v, ctx) => void (o.gpus = gpusOf(v, ctx)),
  '--name': (o, v) => void (o.name = v),
  '--label': (o, v) => {
    const eq = v.indexOf('=');
    o.labels[eq < 0 ? v : v.slice(0, eq)] = eq < 0 ? '' : v.slice(eq + 1);
  },
  '--label-file': (o, v, ctx) => {
    for (const { name, value } of parseEnvFile(ctx.readFile(v))) o.labels[name] = value ?? '';
  },
  '--entrypoint': (o, v) => void (o.entrypoint = v === '' ? null : [v]),
  '--cap-add': (_o, v, ctx) => ctx.warn(refusals.capAdd(v.toUpperCase())),
  '--cap-drop': () => undefined, // Every capability is dropped anyway.
  '--security-opt': (_o, v, ctx) => securityOpt(v, ctx),
  '--network': (_o, v, ctx) => {
    if (v === 'none') return; // An evaluation pod reaches nothing unless the cluster's policy allows it.
    ctx.warn(v === 'host' ? refusals.networkHost : refusals.network);
  },
  '--volume': warnOnly(refusals.volume),
  '--mount': warnOnly(refusals.volume),
  '--tmpfs': (_o, v, ctx) =>
    ctx.warn(
      v.startsWith('/tmp')
        ? 'not needed: /tmp is always a writable scratch directory'
        : 'not mapped: only /tmp is writable; write scratch files there',
    ),
  '--volumes-from': warnOnly(refusals.volume),
  '--publish': warnOnly(refusals.ports),
  '--expose': warnOnly(refusals.ports),
  '--device': warnOnly(refusals.device),
  '--device-cgroup-rule': warnOnly(refusals.device),
  '--ipc': hostNamespaceOption('IPC'),
  '--pid': hostNamespaceOption('PID'),
  '--uts': hostNamespaceOption('UTS'),
  '--userns': hostNamespaceOption('user'),
  '--cgroupns': hostNamespaceOption('cgroup'),
  '--restart': (o, v, ctx) => {
    const m = /^on-failure(?::(\d+))?$/.exec(v);
    if (m !== null) o.maxRetries = m[1] === undefined ? 2 : Number(m[1]);
    else if (v !== 'no')
      ctx.warn('not mapped: an evaluation runs to an outcome; retries come from spec.retries');
  },
  '--runtime': (_o, v, ctx) =>
    ctx.warn(`not mapped: the runtime (${v}) is a RuntimeClass the cluster offers, chosen by the operator`),
  '--pids-limit': warnOnly('not mapped: the process limit is the node kubelet setting podPidsLimit'),
  '--shm-size': warnOnly('not mapped: /dev/shm is the runtime default size'),
  '--ulimit': warnOnly('not mapped: ulimits are the container runtime defaults of the node'),
  '--platform': warnOnly('not mapped: the node architecture is chosen with cluster.selector'),
  '--stop-timeout': warnOnly('not mapped: a timed-out evaluation gets SIGTERM, then SIGKILL 2 s later'),
  '--stop-signal': warnOnly('not mapped: evaluations are stopped with SIGTERM'),
  '--hostname': warnOnly(refusals.ignored),
  '--add-host': warnOnly(refusals.ignored),
  '--dns': warnOnly(refusals.ignored),
  '--dns-search': warnOnly(refusals.ignored),
  '--dns-option': warnOnly(refusals.ignored),
  '--log-driver': warnOnly('not needed: Assay captures stdout and stderr itself'),
  '--log-opt': warnOnly('not needed: Assay captures stdout and stderr itself'),
  '--pull': warnOnly('not mapped: the image pull policy is set per cluster'),
  '--health-cmd': warnOnly(refusals.ignored),
  '--health-interval': warnOnly(refusals.ignored),
  '--health-retries': warnOnly(refusals.ignored),
  '--health-timeout': warnOnly(refusals.ignored),
  '--health-start-period': warnOnly(refusals.ignored),
  '--group-add': warnOnly(refusals.otherUser),
  '--storage-opt': warnOnly('not mapped: set resources.ephemeralStorage'),
  '--oom-score-adj': warnOnly(refusals.ignored),
  '--attach': warnOnly(refusals.tty),
  '--cidfile': warnOnly(refusals.ignored),
  '--ip': warnOnly(refusals.network),
  '--ip6': warnOnly(refusals.network),
  '--mac-address': warnOnly(refusals.network),
  '--link': warnOnly(refusals.network),
  '--network-alias': warnOnly(refusals.network),
  '--isolation': warnOnly(refusals.ignored),
  '--blkio-weight': warnOnly(refusals.ignored),
  '--kernel-memory': warnOnly(refusals.ignored),
  '--cpu-period': warnOnly('not mapped: set resources.limits.cpu'),
  '--cpu-quota': warnOnly('not mapped: set resources.limits.cpu'),
};

/** Options without a value. */
const flagOptions: Record<string, Handler> = {
  '--rm': () => undefined, // The pod is removed once its logs and outputs are stored.
  '--detach': () => undefined,
  '--interactive': warnOnly(refusals.tty),
  '--tty': warnOnly(refusals.tty),
  '--privileged': warnOnly(refusals.privileged),
  '--read-only': () => undefined, // The root filesystem is always read-only.
  '--init': warnOnly('not mapped: PID 1 is the container command; use an image with an init if it needs one'),
  '--publish-all': warnOnly(refusals.ports),
  '--oom-kill-disable': warnOnly('refused: a container over its memory limit is OOM-killed'),
  '--no-healthcheck': () => undefined,
  '--quiet': () => undefined,
  '--sig-proxy': () => undefined,
  '--help': () => {
    throw new DockerRunParseError('--help: not a command line to convert');
  },
};

const shortOptions: Record<string, string> = {
  e: '--env',
  w: '--workdir',
  u: '--user',
  m: '--memory',
  c: '--cpu-shares',
  l: '--label',
  v: '--volume',
  p: '--publish',
  h: '--hostname',
  a: '--attach',
  d: '--detach',
  i: '--interactive',
  t: '--tty',
  P: '--publish-all',
  q: '--quiet',
};

const aliases: Record<string, string> = { '--net': '--network' };

export interface DockerRunReadOptions {
  readonly readFile: ReadTextFile;
  readonly hostEnv?: Readonly<Record<string, string | undefined>>;
}

/**
 * Reads a `docker run` command line (with or without the leading `docker run` / `docker container run`).
 *
 * @throws {DockerRunParseError} for an unknown option, a missing value or a value that cannot be read.
 */
export function readDockerRun(argv: readonly string[], read: DockerRunReadOptions): ContainerOptions {
  const o = emptyOptions();
  let i = 0;
  if (argv[i] === 'docker') i++;
  if (argv[i] === 'container') i++;
  if (argv[i] === 'run') i++;
  const context = (option: string): Context => ({
    option,
    readFile: read.readFile,
    hostEnv: read.hostEnv ?? {},
    warn: (reason: string) => o.warnings.push({ option, reason } satisfies MigrationWarning),
  });
  const takeValue = (option: string, inline: string | undefined): string => {
    if (inline !== undefined) return inline;
    const value = argv[++i];
    if (value === undefined) throw new DockerRunParseError(`${option} needs a value`);
    return value;
  };
  const apply = (name: string, inline: string | undefined, spelled: string): void => {
    const long = aliases[name] ?? name;
    const valueHandler = valueOptions[long];
    if (valueHandler !== undefined) {
      const value = takeValue(spelled, inline);
      valueHandler(o, value, context(`${spelled} ${value}`));
      return;
    }
    const flagHandler = flagOptions[long];
    if (flagHandler !== undefined) {
      // `--sig-proxy=false`, `--rm=true`: a boolean written out.
      if (inline === undefined || inline === 'true' || long === '--sig-proxy')
        flagHandler(o, '', context(spelled));
      return;
    }
    throw new DockerRunParseError(`unknown docker run option ${spelled}`);
  };

  for (; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      apply(
        eq < 0 ? arg : arg.slice(0, eq),
        eq < 0 ? undefined : arg.slice(eq + 1),
        eq < 0 ? arg : arg.slice(0, eq),
      );
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      // Short options may be grouped (`-it`); a value option ends the group and takes the rest or the next word.
      for (let k = 1; k < arg.length; k++) {
        const letter = arg[k]!;
        const long = shortOptions[letter];
        if (long === undefined) throw new DockerRunParseError(`unknown docker run option -${letter}`);
        if (valueOptions[long] !== undefined) {
          const rest = arg.slice(k + 1).replace(/^=/, '');
          apply(long, rest === '' ? undefined : rest, `-${letter}`);
          break;
        }
        apply(long, undefined, `-${letter}`);
      }
      continue;
    }
    break;
  }
  const image = argv[i];
  if (image === undefined)
    throw new DockerRunParseError('no image: docker run needs IMAGE after its options');
  o.image = image;
  o.cmd = argv.slice(i + 1);
  return o;
}
