import { readFile, readdir, readlink } from 'node:fs/promises';

/**
 * Linux `/proc` readers. The stack identifies its own processes by pid *and* start time *and* command line, because a
 * pidfile outlives its process and the kernel reuses pids: a bare `kill(pid, 0)` would adopt (or kill) a stranger.
 *
 * Parsers are pure and exported so they can be unit-tested on captured text.
 */

/** What `/proc/<pid>` tells us about a live (or zombie) process. */
export interface ProcessInfo {
  readonly pid: number;
  /** Arguments as the process sees them (`/proc/<pid>/cmdline`). */
  readonly cmdline: readonly string[];
  /** The executable, when readable (`/proc/<pid>/exe`). */
  readonly exe: string | undefined;
  /** One-letter state: R, S, D, Z (zombie), T, … */
  readonly state: string;
  readonly pgid: number;
  /** Start time in clock ticks since boot: with the pid, it identifies a process for its whole life. */
  readonly startTime: number;
}

/** The fields of `/proc/<pid>/stat` the stack uses. */
export interface ProcStat {
  readonly state: string;
  readonly pgid: number;
  readonly startTime: number;
}

/**
 * Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may itself contain spaces and
 * parentheses, so fields are counted from the last `)`.
 *
 * @returns undefined when the text is not a stat line.
 */
export function parseProcStat(text: string): ProcStat | undefined {
  const close = text.lastIndexOf(')');
  if (close < 0) return undefined;
  // After ") ": field 3 (state) is index 0, so field N is index N - 3.
  const fields = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  const state = fields[0];
  const pgid = Number(fields[5 - 3]);
  const startTime = Number(fields[22 - 3]);
  if (!state || !Number.isInteger(pgid) || !Number.isInteger(startTime)) return undefined;
  return { state, pgid, startTime };
}

/** Splits `/proc/<pid>/cmdline` (NUL-separated, NUL-terminated) into arguments. */
export function parseCmdline(text: string): string[] {
  const args = text.split('\0');
  if (args[args.length - 1] === '') args.pop();
  return args;
}

/**
 * Reads what `/proc` knows about a pid.
 *
 * @returns undefined when no such process exists (or `/proc` is not available).
 */
export async function readProcessInfo(pid: number): Promise<ProcessInfo | undefined> {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const [statText, cmdlineText] = await Promise.all([
      readFile(`/proc/${pid}/stat`, 'utf8'),
      readFile(`/proc/${pid}/cmdline`, 'utf8'),
    ]);
    const stat = parseProcStat(statText);
    if (!stat) return undefined;
    const exe = await readlink(`/proc/${pid}/exe`).catch(() => undefined);
    return { pid, cmdline: parseCmdline(cmdlineText), exe, ...stat };
  } catch {
    return undefined;
  }
}

/** True when the process exists and is not a zombie (a zombie has exited; it only waits to be reaped). */
export function isAlive(info: ProcessInfo | undefined): info is ProcessInfo {
  return info !== undefined && info.state !== 'Z' && info.state !== 'X';
}

/** One socket of `/proc/net/tcp` or `/proc/net/tcp6`. */
export interface TcpSocketEntry {
  readonly localPort: number;
  /** Kernel TCP state; `0A` is LISTEN. */
  readonly state: string;
  readonly inode: number;
}

/** Parses `/proc/net/tcp` or `/proc/net/tcp6` (the header line is skipped). */
export function parseProcNetTcp(text: string): TcpSocketEntry[] {
  const entries: TcpSocketEntry[] = [];
  for (const line of text.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    const local = cols[1];
    const state = cols[3];
    const inode = Number(cols[9]);
    if (!local || !state || !Number.isInteger(inode)) continue;
    const portHex = local.split(':')[1];
    if (!portHex) continue;
    entries.push({ localPort: parseInt(portHex, 16), state, inode });
  }
  return entries;
}

const tcpListen = '0A';

/**
 * Finds the process listening on a TCP port, through `/proc/net/tcp{,6}` and the socket links in `/proc/<pid>/fd`.
 * Only processes whose fds we may read are found (all of them as root, our own otherwise).
 *
 * @returns the pid, or undefined when none is found.
 */
export async function findListeningPid(port: number): Promise<number | undefined> {
  const inodes = new Set<number>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const e of parseProcNetTcp(text)) {
      if (e.localPort === port && e.state === tcpListen && e.inode > 0) inodes.add(e.inode);
    }
  }
  if (inodes.size === 0) return undefined;
  const targets = new Set([...inodes].map((i) => `socket:[${i}]`));
  const pids = (await readdir('/proc').catch(() => [])).filter((d) => /^\d+$/.test(d));
  for (const pid of pids) {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
    for (const fd of fds) {
      const link = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '');
      if (targets.has(link)) return Number(pid);
    }
  }
  return undefined;
}

/** `pid 123 (/path/to/prog --flag …)`, for messages. */
export function describeProcess(info: ProcessInfo): string {
  const cmd = info.cmdline.join(' ');
  return `pid ${info.pid} (${cmd.length > 120 ? `${cmd.slice(0, 117)}...` : cmd})`;
}
