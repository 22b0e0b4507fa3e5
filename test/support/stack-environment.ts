/**
 * The Jest test environment of the stack-backed tiers: Node's, holding a readers–writer lock on the local stack from
 * before a test file's first hook until after its last one. A file whose docblock says `@assay-stack exclusive` — one
 * that stops a shared server, like the S3 outage test — holds it exclusively, so no other suite runs beside it,
 * however many Jest workers (or Jest runs on this machine) share the stack; every other file holds it shared.
 *
 * The lock is a directory of files across processes; each names its owner's pid, so a lock left by a killed process
 * is taken back. Both sides announce themselves before they look at the other (a reader writes its file, then checks
 * for a writer; the writer writes its file, then waits for the readers to leave), so of two that arrive together at
 * least one sees the other: never both inside.
 *
 * Jest loads a test environment outside its module mapping (as it does the global setup), so the `.js` specifiers of
 * our sources would not resolve here: this file imports packages and Node built-ins only.
 */
import type { EnvironmentContext, JestEnvironmentConfig } from '@jest/environment';
import { TestEnvironment } from 'jest-environment-node';
import { randomUUID } from 'node:crypto';
import { link, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

/** Where the lock files live: one directory per machine and user, beside the stack's loopback ports. */
const stackLockDir = join(tmpdir(), 'assay-test-stack-lock');
const writerFile = join(stackLockDir, 'exclusive');
const readerPrefix = 'shared-';

/** How long a file waits for the lock before failing: longer than any suite's run. */
const defaultWaitMs = 45 * 60_000;
const pollMs = 200;

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function ownerOf(file: string): Promise<number | undefined> {
  try {
    return Number((await readFile(file, 'utf8')).trim());
  } catch {
    return undefined;
  }
}

/** True when a live process holds the exclusive lock; removes one left by a dead process. */
async function writerPresent(): Promise<boolean> {
  const owner = await ownerOf(writerFile);
  if (owner === undefined) return false;
  if (alive(owner)) return true;
  await rm(writerFile, { force: true });
  return false;
}

/** Shared holders other than `except` that are still alive; removes those left by dead processes. */
async function liveReaders(except?: string): Promise<string[]> {
  const names = (await readdir(stackLockDir)).filter((n) => n.startsWith(readerPrefix) && n !== except);
  const live: string[] = [];
  for (const name of names) {
    const pid = Number(name.slice(readerPrefix.length).split('-')[0]);
    if (alive(pid)) live.push(name);
    else await rm(join(stackLockDir, name), { force: true });
  }
  return live;
}

function timedOut(what: string, waitMs: number, detail: string): Error {
  return new Error(`waited ${waitMs} ms for the ${what} stack lock (${stackLockDir}): ${detail}`);
}

/**
 * Takes the lock shared (beside other shared holders, never beside an exclusive one); resolves with its release.
 *
 * @throws {Error} when it cannot be had within `waitMs`.
 */
async function acquireShared(waitMs = defaultWaitMs): Promise<() => Promise<void>> {
  await mkdir(stackLockDir, { recursive: true });
  const name = `${readerPrefix}${process.pid}-${randomUUID()}`;
  const file = join(stackLockDir, name);
  const deadline = Date.now() + waitMs;
  for (;;) {
    await writeFile(file, String(process.pid));
    if (!(await writerPresent())) return () => rm(file, { force: true });
    // Step aside so the writer's wait for the readers ends, and try again after it.
    await rm(file, { force: true });
    if (Date.now() > deadline)
      throw timedOut('shared', waitMs, `held exclusively by pid ${await ownerOf(writerFile)}`);
    await sleep(pollMs);
  }
}

/**
 * Takes the lock exclusively, once every shared holder has left; resolves with its release. New shared holders
 * wait from the moment this is called, so a steady stream of them cannot starve it.
 *
 * @throws {Error} when it cannot be had within `waitMs`.
 */
async function acquireExclusive(waitMs = defaultWaitMs): Promise<() => Promise<void>> {
  await mkdir(stackLockDir, { recursive: true });
  const deadline = Date.now() + waitMs;
  for (;;) {
    // Written aside, then linked into place: the lock file never exists without its owner's pid in it.
    const draft = join(stackLockDir, `draft-${process.pid}-${randomUUID()}`);
    await writeFile(draft, String(process.pid));
    try {
      await link(draft, writerFile);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await writerPresent();
      if (Date.now() > deadline)
        throw timedOut('exclusive', waitMs, `held by pid ${await ownerOf(writerFile)}`);
      await sleep(pollMs);
    } finally {
      await rm(draft, { force: true });
    }
  }
  const release = (): Promise<void> => rm(writerFile, { force: true });
  try {
    for (;;) {
      const readers = await liveReaders();
      if (readers.length === 0) return release;
      if (Date.now() > deadline) throw timedOut('exclusive', waitMs, `still shared by ${readers.join(', ')}`);
      await sleep(pollMs);
    }
  } catch (err) {
    await release();
    throw err;
  }
}

export default class StackEnvironment extends TestEnvironment {
  readonly #exclusive: boolean;
  readonly #testPath: string;
  #release: (() => Promise<void>) | undefined;

  constructor(config: JestEnvironmentConfig, context: EnvironmentContext) {
    super(config, context);
    this.#exclusive = context.docblockPragmas['assay-stack'] === 'exclusive';
    this.#testPath = context.testPath;
  }

  override async setup(): Promise<void> {
    if (this.#exclusive) {
      process.stderr.write(`[stack lock] ${this.#testPath}: waiting for the other suites to finish\n`);
    }
    this.#release = this.#exclusive ? await acquireExclusive() : await acquireShared();
    await super.setup();
  }

  override async teardown(): Promise<void> {
    try {
      await super.teardown();
    } finally {
      await this.#release?.();
    }
  }
}
