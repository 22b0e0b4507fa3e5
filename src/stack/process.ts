import { spawn } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { StackContext } from './component.js';
import { DaemonExitedError, errorCode, PortInUseError, StackTimeoutError } from './errors.js';
import { describeProcess, findListeningPid, isAlive, type ProcessInfo, readProcessInfo } from './proc.js';

/**
 * Daemons of the local stack: started detached (they outlive `stack up`), recorded in a pidfile, logging to a file,
 * stopped by pidfile only. A pidfile is trusted only while its pid still names the same process (same start time and
 * executable), so stale pidfiles of a killed run are recognised and cleared, and a reused pid is never signalled.
 */

const pidRecordSchema = z.object({
  pid: z.number().int().positive(),
  argv: z.array(z.string()).min(1),
  /** Clock ticks since boot (`/proc/<pid>/stat` field 22); absent where `/proc` is not available. */
  startTime: z.number().int().nonnegative().optional(),
  startedAt: z.string(),
  logFile: z.string(),
});

/** What a pidfile records about the daemon it names. */
export type PidRecord = z.infer<typeof pidRecordSchema>;

/**
 * `running` — the pid is alive and is still the process we started; `dead` — no such live process; `reused` — the
 * pid now belongs to another program (or a later process with the same program).
 */
export type PidState = 'running' | 'dead' | 'reused';

/** Decides whether a pidfile's process still runs, from what `/proc` says about its pid now. */
export function classifyPid(record: PidRecord, info: ProcessInfo | undefined): PidState {
  if (!isAlive(info)) return 'dead';
  if (record.startTime !== undefined && info.startTime !== record.startTime) return 'reused';
  // The pidfile is written after the exec succeeded, so argv[0] is what /proc shows for our process.
  if (info.cmdline.length > 0 && info.cmdline[0] !== record.argv[0]) return 'reused';
  return 'running';
}

/** Parses a pidfile's text. @returns undefined for an unreadable or foreign file (treated as stale). */
export function parsePidRecord(text: string): PidRecord | undefined {
  try {
    const parsed = pidRecordSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}

/** Names one daemon: its pidfile is `<dir>/<name>.pid`, its log `<dir>/<name>.log`. */
export interface DaemonRef {
  readonly name: string;
  readonly dir: string;
}

/** What it takes to start and check a daemon. */
export interface DaemonSpec extends DaemonRef {
  /** Component it belongs to, for messages. */
  readonly component: string;
  readonly command: string;
  readonly args: readonly string[];
  /** The full environment of the daemon (not merged with ours, so callers decide what leaks in). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly cwd?: string;
  /** Loopback ports it listens on: they must be free, or held by an orphan of ours, before it starts. */
  readonly ports: readonly number[];
  /** `true` when healthy, otherwise a short description of what is wrong. Must not throw. */
  readonly health: () => Promise<true | string>;
  /** How long to wait for health after starting; default 60 s. */
  readonly startTimeoutMs?: number;
  /**
   * A process holding one of `ports` whose executable lives under this directory is ours — left by a killed run
   * whose pidfile is gone — and is stopped instead of reported as a conflict. Usually the cache's `bin/` directory.
   */
  readonly ownedExecutableDir?: string;
  /**
   * A network namespace file (`/run/netns/<name>`) to start the daemon in, through `nsenter --net`, which then execs
   * `command`: the pidfile records `command` and `args`, what the process is. `ports` are checked on the host's
   * loopback, so a daemon in another namespace usually lists none.
   */
  readonly netns?: string;
}

/** The pidfile and log file paths of a daemon. */
export function daemonFiles(ref: DaemonRef): { pidFile: string; logFile: string } {
  return { pidFile: join(ref.dir, `${ref.name}.pid`), logFile: join(ref.dir, `${ref.name}.log`) };
}

/** The state of a daemon according to its pidfile. */
export interface DaemonState {
  readonly state: PidState | 'absent';
  readonly record?: PidRecord;
}

/** Reads a daemon's pidfile and checks it against `/proc`. Never throws for a missing or garbled pidfile. */
export async function daemonState(ref: DaemonRef): Promise<DaemonState> {
  const { pidFile } = daemonFiles(ref);
  const text = await readFile(pidFile, 'utf8').catch(() => undefined);
  if (text === undefined) return { state: 'absent' };
  const record = parsePidRecord(text);
  if (!record) return { state: 'dead' };
  return { state: classifyPid(record, await readProcessInfo(record.pid)), record };
}

/**
 * Makes sure a daemon runs and is healthy: reuses a healthy one, clears the stale pidfile of a dead one, stops an
 * orphan of ours that holds a needed port, starts it detached, and waits for health.
 *
 * @returns `reused` when it already ran healthy, `started` when this call started it.
 * @throws {PortInUseError} when a needed port is held by a process we did not start.
 * @throws {DaemonExitedError} when it exits during start-up (the message holds the end of its log).
 * @throws {StackTimeoutError} when it does not become healthy in time (it is stopped again).
 */
export async function ensureDaemon(ctx: StackContext, spec: DaemonSpec): Promise<'started' | 'reused'> {
  const { pidFile, logFile } = daemonFiles(spec);
  const timeoutMs = spec.startTimeoutMs ?? 60_000;
  const current = await daemonState(spec);
  if (current.state === 'running' && current.record) {
    try {
      // A running daemon may still be starting (an earlier `up` was interrupted), so give it the start timeout.
      await waitFor(spec.health, {
        description: `${spec.name} (pid ${current.record.pid}) to become healthy`,
        timeoutMs,
        ...(ctx.signal ? { signal: ctx.signal } : {}),
      });
      return 'reused';
    } catch (err) {
      if (!(err instanceof StackTimeoutError)) throw err;
      ctx.reporter.warn(
        `${spec.name} (pid ${current.record.pid}) runs but is not healthy (${err.lastProblem}); restarting it`,
      );
      await stopDaemon(ctx, spec);
    }
  } else if (current.state !== 'absent') {
    const what = current.record
      ? `pid ${current.record.pid} ${current.state === 'dead' ? 'is gone' : 'now belongs to another process'}`
      : 'unreadable';
    ctx.reporter.warn(`clearing stale pidfile of ${spec.name} from an earlier run (${what})`);
    await rm(pidFile, { force: true });
  }

  for (const port of spec.ports) await claimPort(ctx, spec, port);

  await mkdir(spec.dir, { recursive: true });
  const argv = [spec.command, ...spec.args];
  const fd = openSync(logFile, 'a');
  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  let pid: number;
  try {
    writeSync(fd, `\n=== ${new Date().toISOString()} stack up: ${argv.join(' ')}\n`);
    const child = spawn(
      spec.netns ? 'nsenter' : spec.command,
      spec.netns ? [`--net=${spec.netns}`, '--', spec.command, ...spec.args] : spec.args,
      {
        detached: true,
        stdio: ['ignore', fd, fd],
        env: spec.env ?? process.env,
        ...(spec.cwd ? { cwd: spec.cwd } : {}),
      },
    );
    const spawnError = await new Promise<Error | undefined>((resolvePromise) => {
      child.once('spawn', () => resolvePromise(undefined));
      child.once('error', resolvePromise);
    });
    if (spawnError || child.pid === undefined) {
      throw new DaemonExitedError(
        spec.name,
        logFile,
        `could not start ${spec.command}: ${spawnError?.message ?? 'no pid'}`,
      );
    }
    pid = child.pid;
    child.once('exit', (code, signal) => (exited = { code, signal }));
    // The daemon outlives us: do not keep our event loop alive for it.
    child.unref();
  } finally {
    closeSync(fd);
  }

  const info = await readProcessInfo(pid);
  const record: PidRecord = {
    pid,
    argv,
    ...(info ? { startTime: info.startTime } : {}),
    startedAt: new Date().toISOString(),
    logFile,
  };
  await writeFileAtomic(pidFile, `${JSON.stringify(record)}\n`);
  ctx.reporter.info(`started ${spec.name} (pid ${pid}, log ${logFile})`);

  try {
    await waitFor(spec.health, {
      description: `${spec.name} (pid ${pid}) to become healthy`,
      timeoutMs,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      abortIf: async () => {
        if (exited || !isAlive(await readProcessInfo(pid))) {
          const how = exited
            ? exited.signal
              ? `signal ${exited.signal}`
              : `exit code ${exited.code}`
            : 'exited';
          return `${how}\n${await tailFile(logFile, 30)}`;
        }
        return undefined;
      },
    });
  } catch (err) {
    if (err instanceof AbortedWaitError) {
      await rm(pidFile, { force: true });
      throw new DaemonExitedError(spec.name, logFile, err.reason);
    }
    if (err instanceof StackTimeoutError) {
      await stopDaemon(ctx, spec);
      throw new StackTimeoutError(
        `${spec.name} to become healthy (see ${logFile})`,
        err.timeoutMs,
        err.lastProblem,
      );
    }
    throw err;
  }
  return 'started';
}

/** Options of {@link stopDaemon}. */
export interface StopOptions {
  /** How long to wait after SIGTERM before SIGKILL; default 15 s. */
  readonly graceMs?: number;
}

/**
 * Stops the daemon its pidfile names — only if the pid still is that daemon — with SIGTERM to its process group,
 * then SIGKILL after a grace period; removes the pidfile.
 *
 * @returns `stopped` when it signalled a running daemon, `not-running` otherwise (a stale pidfile is just removed).
 */
export async function stopDaemon(
  ctx: StackContext,
  ref: DaemonRef,
  options: StopOptions = {},
): Promise<'stopped' | 'not-running'> {
  const { pidFile } = daemonFiles(ref);
  const { state, record } = await daemonState(ref);
  if (state !== 'running' || !record) {
    if (state !== 'absent') {
      ctx.reporter.warn(
        `removing stale pidfile of ${ref.name}${record ? ` (pid ${record.pid} is not ours any more)` : ''}`,
      );
    }
    await rm(pidFile, { force: true });
    return 'not-running';
  }
  const info = await readProcessInfo(record.pid);
  await terminate(record.pid, info, options.graceMs ?? 15_000);
  await rm(pidFile, { force: true });
  ctx.reporter.info(`stopped ${ref.name} (pid ${record.pid})`);
  return 'stopped';
}

/**
 * SIGTERM, wait up to `graceMs`, then SIGKILL. We started daemons as process-group leaders, so a group leader is
 * signalled as a group and helpers it spawned go with it.
 */
async function terminate(pid: number, info: ProcessInfo | undefined, graceMs: number): Promise<void> {
  const target = info && info.pgid === pid ? -pid : pid;
  const send = (signal: NodeJS.Signals) => {
    try {
      process.kill(target, signal);
    } catch (err) {
      if (errorCode(err) !== 'ESRCH') throw err;
    }
  };
  const startTime = info?.startTime;
  const gone = async () => {
    const now = await readProcessInfo(pid);
    return !isAlive(now) || (startTime !== undefined && now.startTime !== startTime);
  };
  send('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (await gone()) return;
    await sleep(100);
  }
  send('SIGKILL');
  for (let i = 0; i < 50 && !(await gone()); i++) await sleep(100);
}

/**
 * Makes sure a port is free: an orphan of ours (its executable is under `ownedExecutableDir`) is stopped; any other
 * holder is an error naming the port and the process.
 */
async function claimPort(ctx: StackContext, spec: DaemonSpec, port: number): Promise<void> {
  if (await isPortFree(port)) return;
  let ownerPid = await findListeningPid(port);
  // No listener, yet not free: the port of a daemon stopped a moment ago (a restart after a configuration change)
  // can stay unbindable briefly after its process is gone. Give it a few seconds before calling it a conflict.
  for (let i = 0; i < 50 && ownerPid === undefined; i++) {
    await sleep(100);
    if (await isPortFree(port)) return;
    ownerPid = await findListeningPid(port);
  }
  const owner = ownerPid === undefined ? undefined : await readProcessInfo(ownerPid);
  const dir = spec.ownedExecutableDir;
  const ours =
    owner !== undefined &&
    dir !== undefined &&
    [owner.exe, owner.cmdline[0]].some((p) => p !== undefined && p.startsWith(`${dir}/`));
  if (!owner || !ours) {
    throw new PortInUseError(port, spec.component, owner ? describeProcess(owner) : undefined);
  }
  ctx.reporter.warn(
    `stopping ${describeProcess(owner)}, left over from an earlier run, which holds port ${port}`,
  );
  await terminate(owner.pid, owner, 10_000);
  await waitFor(async () => ((await isPortFree(port)) ? true : 'still in use'), {
    description: `port ${port} to be released`,
    timeoutMs: 10_000,
  });
}

/** True when nothing listens on `host:port` (checked by binding it, which is what the daemon will do). */
export async function isPortFree(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolvePromise(true)));
  });
}

/** Thrown by {@link waitFor} when `abortIf` reports that waiting is pointless. */
export class AbortedWaitError extends Error {
  readonly code = 'WAIT_ABORTED';
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'AbortedWaitError';
  }
}

/** Options of {@link waitFor}. */
export interface WaitOptions {
  /** What we wait for, for the timeout message: "temporal to become healthy". */
  readonly description: string;
  readonly timeoutMs: number;
  /** Delay between probes; default 200 ms. */
  readonly intervalMs?: number;
  readonly signal?: AbortSignal;
  /** Checked before each probe: a string (the reason) ends the wait with {@link AbortedWaitError}. */
  readonly abortIf?: () => Promise<string | undefined>;
}

/**
 * Polls `probe` until it returns `true`.
 *
 * @throws {StackTimeoutError} after `timeoutMs`, carrying the probe's last answer.
 * @throws {AbortedWaitError} when `abortIf` gives a reason.
 */
export async function waitFor(probe: () => Promise<true | string>, options: WaitOptions): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  let last: string | undefined;
  for (;;) {
    options.signal?.throwIfAborted();
    const reason = await options.abortIf?.();
    if (reason !== undefined) throw new AbortedWaitError(reason);
    const result = await probe();
    if (result === true) return;
    last = result;
    if (Date.now() >= deadline) throw new StackTimeoutError(options.description, options.timeoutMs, last);
    await sleep(options.intervalMs ?? 200);
  }
}

/**
 * GETs a URL (or sends the request `init` describes) and reports `true` for a 2xx answer, otherwise what went wrong
 * (for {@link waitFor} and status lines).
 */
export async function httpProbe(
  url: string,
  timeoutMs = 2_000,
  init: Omit<RequestInit, 'signal'> = {},
): Promise<true | string> {
  const method = init.method ?? 'GET';
  try {
    const res = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    await res.body?.cancel();
    return res.ok ? true : `${method} ${url} answered ${res.status}`;
  } catch (err) {
    const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
    return `${method} ${url} failed: ${cause ?? (err instanceof Error ? err.message : String(err))}`;
  }
}

/** The last `lines` lines of a file (reads at most its last 64 KiB); empty when unreadable. */
export async function tailFile(path: string, lines: number): Promise<string> {
  try {
    const handle = await open(path, 'r');
    try {
      const { size } = await handle.stat();
      const length = Math.min(size, 64 * 1024);
      const buf = Buffer.alloc(length);
      await handle.read(buf, 0, length, size - length);
      return buf.toString('utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } finally {
      await handle.close();
    }
  } catch {
    return '';
  }
}

async function writeFileAtomic(path: string, content: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, path);
}
