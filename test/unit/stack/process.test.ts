import { spawn } from 'node:child_process';
import { access, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { DaemonExitedError } from '../../../src/stack/errors.js';
import type { ProcessInfo } from '../../../src/stack/proc.js';
import { readProcessInfo } from '../../../src/stack/proc.js';
import {
  classifyPid,
  daemonFiles,
  daemonState,
  ensureDaemon,
  parsePidRecord,
  type PidRecord,
  stopDaemon,
} from '../../../src/stack/process.js';
import { tempStackContext } from './helpers.js';

const record: PidRecord = {
  pid: 4242,
  argv: ['/cache/bin/temporal-1.5.1/temporal', 'server', 'start-dev'],
  startTime: 1000,
  startedAt: '2026-01-01T00:00:00.000Z',
  logFile: '/cache/stack/temporal/temporal.log',
};

function info(overrides: Partial<ProcessInfo> = {}): ProcessInfo {
  return {
    pid: 4242,
    cmdline: ['/cache/bin/temporal-1.5.1/temporal', 'server', 'start-dev'],
    exe: '/cache/bin/temporal-1.5.1/temporal',
    state: 'S',
    pgid: 4242,
    startTime: 1000,
    ...overrides,
  };
}

describe('classifyPid', () => {
  it('trusts a pid that is alive with the recorded start time and program', () => {
    expect(classifyPid(record, info())).toBe('running');
  });

  it('calls a missing or zombie process dead', () => {
    expect(classifyPid(record, undefined)).toBe('dead');
    expect(classifyPid(record, info({ state: 'Z' }))).toBe('dead');
  });

  it('detects a reused pid by its start time or its program', () => {
    expect(classifyPid(record, info({ startTime: 2000 }))).toBe('reused');
    expect(classifyPid(record, info({ cmdline: ['/usr/bin/vim'] }))).toBe('reused');
  });
});

describe('parsePidRecord', () => {
  it('reads a pidfile and refuses garbage', () => {
    expect(parsePidRecord(JSON.stringify(record))).toEqual(record);
    expect(parsePidRecord('12345\n')).toBeUndefined();
    expect(parsePidRecord('{"pid":-1}')).toBeUndefined();
    expect(parsePidRecord('not json')).toBeUndefined();
  });
});

describe('daemon lifecycle (real processes)', () => {
  const roots: string[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c().catch(() => undefined);
    for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
  });

  async function setup() {
    const t = await tempStackContext();
    roots.push(t.root);
    const dir = join(t.root, 'stack', 'test');
    return { ...t, dir };
  }

  it('starts a detached daemon, reuses it, and stops it by its pidfile', async () => {
    const { ctx, dir } = await setup();
    const spec = {
      name: 'sleeper',
      dir,
      component: 'test',
      command: '/bin/sleep',
      args: ['300'],
      ports: [],
      health: () => Promise.resolve(true as const),
    };
    cleanups.push(() => stopDaemon(ctx, spec, { graceMs: 1000 }));

    expect(await ensureDaemon(ctx, spec)).toBe('started');
    const first = await daemonState(spec);
    expect(first.state).toBe('running');
    expect(await ensureDaemon(ctx, spec)).toBe('reused');

    expect(await stopDaemon(ctx, spec, { graceMs: 2000 })).toBe('stopped');
    expect(await daemonState(spec)).toEqual({ state: 'absent' });
    const after = await readProcessInfo(first.record?.pid ?? -1);
    expect(after === undefined || after.state === 'Z').toBe(true);
  });

  it('clears the stale pidfile of a dead process and starts afresh', async () => {
    const { ctx, dir, lines } = await setup();
    const dead = spawn('/bin/true');
    await new Promise((r) => dead.once('exit', r));
    await mkdir(dir, { recursive: true });
    const spec = {
      name: 'sleeper',
      dir,
      component: 'test',
      command: '/bin/sleep',
      args: ['300'],
      ports: [],
      health: () => Promise.resolve(true as const),
    };
    await writeFile(
      daemonFiles(spec).pidFile,
      JSON.stringify({ ...record, pid: dead.pid, argv: ['/bin/sleep', '300'] }),
    );
    cleanups.push(() => stopDaemon(ctx, spec, { graceMs: 1000 }));

    expect(await ensureDaemon(ctx, spec)).toBe('started');
    expect(lines.join('\n')).toMatch(/clearing stale pidfile of sleeper .*is gone/);
  });

  it('never signals a pid that now belongs to another process', async () => {
    const { ctx, dir } = await setup();
    await mkdir(dir, { recursive: true });
    const ref = { name: 'ghost', dir };
    // The pidfile names this very test process, but with another program and start time: `down` must not touch it.
    await writeFile(daemonFiles(ref).pidFile, JSON.stringify({ ...record, pid: process.pid }));

    expect((await daemonState(ref)).state).toBe('reused');
    expect(await stopDaemon(ctx, ref, { graceMs: 100 })).toBe('not-running');
    expect(await daemonState(ref)).toEqual({ state: 'absent' });
  });

  it('reports a daemon that dies during start-up with the end of its log', async () => {
    const { ctx, dir } = await setup();
    const spec = {
      name: 'crasher',
      dir,
      component: 'test',
      command: '/bin/sh',
      args: ['-c', 'echo "fatal: bad flag --nope"; exit 3'],
      ports: [],
      health: () => Promise.resolve('not yet'),
      startTimeoutMs: 10_000,
    };
    const error = await ensureDaemon(ctx, spec).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(DaemonExitedError);
    expect((error as DaemonExitedError).message).toMatch(/fatal: bad flag --nope/);
    expect(await daemonState(spec)).toEqual({ state: 'absent' });
  });

  it('kills a daemon that ignores SIGTERM once the grace period is over', async () => {
    const { ctx, dir } = await setup();
    const spec = {
      name: 'stubborn',
      dir,
      component: 'test',
      command: '/bin/sh',
      // Healthy only once the trap is in place: a SIGTERM that arrived before it would end the shell at once.
      args: ['-c', `trap "" TERM; touch ${join(dir, 'trapped')}; while :; do sleep 0.1; done`],
      ports: [],
      health: () =>
        access(join(dir, 'trapped')).then(
          () => true as const,
          () => 'no trap yet',
        ),
    };
    cleanups.push(() => stopDaemon(ctx, spec, { graceMs: 100 }));
    await ensureDaemon(ctx, spec);
    const pid = (await daemonState(spec)).record?.pid ?? -1;

    const started = Date.now();
    expect(await stopDaemon(ctx, spec, { graceMs: 500 })).toBe('stopped');
    expect(Date.now() - started).toBeGreaterThanOrEqual(500);
    const after = await readProcessInfo(pid);
    expect(after === undefined || after.state === 'Z').toBe(true);
  });
});
