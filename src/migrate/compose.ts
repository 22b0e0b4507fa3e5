/**
 * One service of a Compose file read into {@link ContainerOptions}. The file is checked with zod only as far as the
 * keys that are mapped (their types); every other key of the service is reported as not carried over.
 */
import { parse as parseShell } from 'shell-quote';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  dockerBytes,
  emptyOptions,
  parseEnvFile,
  refusals,
  type ContainerOptions,
} from './container-options.js';
import type { ReadTextFile } from './docker-run.js';

/** A Compose file or service that cannot be converted; the message names the key. */
export class ComposeParseError extends Error {
  override readonly name = 'ComposeParseError';
}

const stringOrList = z.union([z.string(), z.array(z.string())]);
const stringMapOrList = z.union([
  z.array(z.string()),
  z.record(z.string(), z.union([z.string(), z.number(), z.boolean(), z.null()])),
]);
const quantity = z.union([z.string(), z.number()]);

const resourceBlock = z
  .object({
    cpus: quantity.optional(),
    memory: z.string().optional(),
    devices: z
      .array(
        z
          .object({
            capabilities: z.array(z.string()).optional(),
            count: z.union([z.number().int().positive(), z.literal('all')]).optional(),
            device_ids: z.array(z.string()).optional(),
          })
          .loose(),
      )
      .optional(),
  })
  .loose();

/** The keys of a service that are mapped, with the types Compose gives them. */
const serviceSchema = z
  .object({
    image: z.string().optional(),
    build: z.unknown().optional(),
    container_name: z.string().optional(),
    command: stringOrList.optional(),
    entrypoint: stringOrList.optional(),
    environment: stringMapOrList.optional(),
    env_file: z
      .union([z.string(), z.array(z.union([z.string(), z.object({ path: z.string() }).loose()]))])
      .optional(),
    working_dir: z.string().optional(),
    user: z.union([z.string(), z.number()]).optional(),
    labels: stringMapOrList.optional(),
    read_only: z.boolean().optional(),
    privileged: z.boolean().optional(),
    cap_add: z.array(z.string()).optional(),
    cap_drop: z.array(z.string()).optional(),
    security_opt: z.array(z.string()).optional(),
    network_mode: z.string().optional(),
    networks: z.unknown().optional(),
    volumes: z.array(z.unknown()).optional(),
    tmpfs: stringOrList.optional(),
    ports: z.array(z.unknown()).optional(),
    expose: z.array(z.unknown()).optional(),
    devices: z.array(z.unknown()).optional(),
    ipc: z.string().optional(),
    pid: z.string().optional(),
    mem_limit: quantity.optional(),
    mem_reservation: quantity.optional(),
    cpus: quantity.optional(),
    runtime: z.string().optional(),
    restart: z.string().optional(),
    stdin_open: z.boolean().optional(),
    tty: z.boolean().optional(),
    deploy: z
      .object({
        resources: z
          .object({ limits: resourceBlock.optional(), reservations: resourceBlock.optional() })
          .loose()
          .optional(),
        restart_policy: z
          .object({ condition: z.string().optional(), max_attempts: z.number().int().optional() })
          .loose()
          .optional(),
      })
      .loose()
      .optional(),
  })
  .loose();

const composeSchema = z.object({ services: z.record(z.string(), serviceSchema) }).loose();

function issuesText(error: z.ZodError, prefix: string): string {
  return error.issues.map((i) => `${[prefix, ...i.path.map(String)].join('.')}: ${i.message}`).join('; ');
}

function words(value: string | string[], key: string): string[] {
  if (Array.isArray(value)) return value;
  // Variables stay as written: they are the container's to expand (its shell), not this process's.
  const parsed = parseShell(value, (name) => `$${name}`);
  if (!parsed.every((p): p is string => typeof p === 'string')) {
    throw new ComposeParseError(`${key}: shell operators or globs are not a command; write it as a list`);
  }
  return parsed;
}

function bytesOf(value: string | number, key: string): number {
  const bytes = typeof value === 'number' ? value : dockerBytes(value);
  if (bytes === null) throw new ComposeParseError(`${key}: ${JSON.stringify(value)} is not a size`);
  return bytes;
}

function coresOf(value: string | number, key: string): number {
  const cores = Number(value);
  if (!Number.isFinite(cores) || cores <= 0)
    throw new ComposeParseError(`${key}: ${JSON.stringify(value)} is not a number of CPUs`);
  return cores;
}

/** Keys whose meaning is carried over or explained; anything else is reported as ignored. */
const handledKeys = new Set(Object.keys(serviceSchema.shape));

/** The services a Compose file declares, in file order. */
export function composeServices(text: string): string[] {
  const parsed = composeSchema.safeParse(parseYaml(text));
  if (!parsed.success) throw new ComposeParseError(issuesText(parsed.error, 'compose'));
  return Object.keys(parsed.data.services);
}

/**
 * Reads one service (the only one when `service` is null).
 *
 * @throws {ComposeParseError} when the file is not Compose, the service is missing or ambiguous, or a mapped key has
 * the wrong type.
 */
export function readComposeService(
  text: string,
  service: string | null,
  read: { readFile: ReadTextFile; hostEnv?: Readonly<Record<string, string | undefined>> },
): ContainerOptions {
  let document: unknown;
  try {
    document = parseYaml(text);
  } catch (err) {
    throw new ComposeParseError(`not YAML: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = composeSchema.safeParse(document);
  if (!parsed.success) throw new ComposeParseError(issuesText(parsed.error, 'compose'));
  const names = Object.keys(parsed.data.services);
  const name = service ?? (names.length === 1 ? names[0]! : null);
  if (name === null)
    throw new ComposeParseError(
      `the file has ${names.length} services (${names.join(', ')}): choose one with --service`,
    );
  const svc = parsed.data.services[name];
  if (svc === undefined)
    throw new ComposeParseError(`no service ${JSON.stringify(name)}; the file has ${names.join(', ')}`);
  const key = (k: string): string => `services.${name}.${k}`;

  const o = emptyOptions();
  const warn = (option: string, reason: string): void =>
    void o.warnings.push({ option: key(option), reason });
  if (svc.image === undefined) {
    throw new ComposeParseError(
      svc.build !== undefined
        ? `${key('build')}: the image is built by Compose; build and push it, then name it in image:`
        : `${key('image')}: required`,
    );
  }
  o.image = svc.image;
  if (svc.build !== undefined) warn('build', 'ignored: the cluster runs the image named in image:');
  o.name = svc.container_name ?? name;
  if (svc.entrypoint !== undefined) o.entrypoint = words(svc.entrypoint, key('entrypoint'));
  if (svc.command !== undefined) o.cmd = words(svc.command, key('command'));

  const setEnv = (n: string, value: string): void => {
    o.env = o.env.filter((e) => e.name !== n);
    o.env.push({ name: n, value });
  };
  const hostEnv = read.hostEnv ?? {};
  const fromHost = (n: string, option: string): void => {
    const value = hostEnv[n];
    if (value === undefined)
      warn(option, `${n} takes its value from the host environment, which has none here: left out`);
    else {
      setEnv(n, value);
      warn(
        option,
        `${n}: the value was copied from this shell's environment; check it belongs in the manifest`,
      );
    }
  };
  if (svc.env_file !== undefined) {
    for (const file of Array.isArray(svc.env_file) ? svc.env_file : [svc.env_file]) {
      const path = typeof file === 'string' ? file : file.path;
      for (const { name: n, value } of parseEnvFile(read.readFile(path))) {
        if (value === null) fromHost(n, 'env_file');
        else setEnv(n, value);
      }
    }
  }
  if (svc.environment !== undefined) {
    if (Array.isArray(svc.environment)) {
      for (const entry of svc.environment) {
        const eq = entry.indexOf('=');
        if (eq < 0) fromHost(entry, 'environment');
        else setEnv(entry.slice(0, eq), entry.slice(eq + 1));
      }
    } else {
      for (const [n, value] of Object.entries(svc.environment)) {
        if (value === null) fromHost(n, 'environment');
        else setEnv(n, String(value));
      }
    }
  }
  if (svc.working_dir !== undefined) o.workdir = svc.working_dir;
  if (svc.user !== undefined) {
    const who = String(svc.user).split(':')[0];
    warn('user', who === '0' || who === 'root' ? refusals.rootUser : refusals.otherUser);
  }
  if (svc.labels !== undefined) {
    const entries = Array.isArray(svc.labels)
      ? svc.labels.map((l) => {
          const eq = l.indexOf('=');
          return [eq < 0 ? l : l.slice(0, eq), eq < 0 ? '' : l.slice(eq + 1)] as const;
        })
      : Object.entries(svc.labels).map(([k, v]) => [k, v === null ? '' : String(v)] as const);
    for (const [k, v] of entries) o.labels[k] = v;
  }
  if (svc.privileged === true) warn('privileged', refusals.privileged);
  for (const cap of svc.cap_add ?? []) warn('cap_add', refusals.capAdd(cap.toUpperCase()));
  for (const opt of svc.security_opt ?? []) {
    const [k, rest = ''] = opt.split(/[=:](.*)/s, 2) as [string, string?];
    if (k === 'no-new-privileges') {
      if (rest === 'false') warn('security_opt', 'refused: privilege escalation is always disabled');
    } else if (k === 'seccomp') {
      warn('security_opt', rest === 'unconfined' ? refusals.seccompUnconfined : refusals.seccompProfile);
    } else if (k === 'apparmor') warn('security_opt', refusals.apparmor);
    else if (k === 'label') warn('security_opt', refusals.selinux);
    else warn('security_opt', refusals.ignored);
  }
  if (svc.network_mode !== undefined && svc.network_mode !== 'none')
    warn('network_mode', svc.network_mode === 'host' ? refusals.networkHost : refusals.network);
  if (svc.networks !== undefined) warn('networks', refusals.network);
  if (svc.volumes !== undefined && svc.volumes.length > 0) warn('volumes', refusals.volume);
  if (svc.tmpfs !== undefined) warn('tmpfs', 'not mapped: only /tmp is writable; write scratch files there');
  if ((svc.ports?.length ?? 0) > 0 || (svc.expose?.length ?? 0) > 0) warn('ports', refusals.ports);
  if ((svc.devices?.length ?? 0) > 0) warn('devices', refusals.device);
  if (svc.ipc === 'host') warn('ipc', refusals.hostNamespace('IPC'));
  if (svc.pid === 'host') warn('pid', refusals.hostNamespace('PID'));
  if (svc.runtime !== undefined)
    warn('runtime', `not mapped: the runtime (${svc.runtime}) is a RuntimeClass the cluster offers`);
  if (svc.stdin_open === true || svc.tty === true) warn('tty', refusals.tty);

  const limits = svc.deploy?.resources?.limits;
  const reservations = svc.deploy?.resources?.reservations;
  const memLimit = limits?.memory ?? svc.mem_limit;
  if (memLimit !== undefined) o.memoryLimit = bytesOf(memLimit, key('deploy.resources.limits.memory'));
  const memReservation = reservations?.memory ?? svc.mem_reservation;
  if (memReservation !== undefined)
    o.memoryReservation = bytesOf(memReservation, key('deploy.resources.reservations.memory'));
  const cpus = limits?.cpus ?? svc.cpus;
  if (cpus !== undefined) o.cpus = coresOf(cpus, key('deploy.resources.limits.cpus'));
  if (reservations?.cpus !== undefined)
    o.cpuReservation = coresOf(reservations.cpus, key('deploy.resources.reservations.cpus'));
  const gpu = reservations?.devices?.find((d) => d.capabilities?.includes('gpu'));
  if (gpu !== undefined) {
    if (gpu.count === 'all') {
      warn(
        'deploy.resources.reservations.devices',
        'all GPUs of a host has no cluster equivalent: asking for 1',
      );
      o.gpus = { count: 1, note: 'all' };
    } else {
      o.gpus = { count: gpu.count ?? gpu.device_ids?.length ?? 1, note: null };
      if (gpu.device_ids !== undefined)
        warn(
          'deploy.resources.reservations.devices',
          'specific devices are chosen by the scheduler on a cluster',
        );
    }
  }
  const restart = svc.deploy?.restart_policy;
  if (restart?.condition === 'on-failure') o.maxRetries = restart.max_attempts ?? 2;
  else if (svc.restart !== undefined) {
    const m = /^on-failure(?::(\d+))?$/.exec(svc.restart);
    if (m !== null) o.maxRetries = m[1] === undefined ? 2 : Number(m[1]);
    else if (svc.restart !== 'no')
      warn('restart', 'not mapped: an evaluation runs to an outcome; retries come from spec.retries');
  }
  for (const k of Object.keys(svc)) {
    if (!handledKeys.has(k)) warn(k, refusals.ignored);
  }
  return o;
}
