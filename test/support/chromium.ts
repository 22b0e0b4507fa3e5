/**
 * A real headless browser for the tests that check what a person sees (the Temporal Web UI, HTML reports): Debian's
 * `chromium`, driven by `playwright-core` (which downloads no browser of its own). Installed with apt when missing,
 * so the test command works on a fresh machine; the install is the system's, like the other Debian packages the
 * stack uses.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { promisify } from 'node:util';
import { chromium, type Browser } from 'playwright-core';

const run = promisify(execFile);

/** Where Debian installs the browser; `ASSAY_CHROMIUM` overrides it. */
const defaultExecutable = '/usr/bin/chromium';

/** Flags for a headless browser that makes no request of its own beyond what the page asks for. */
export const chromiumArgs = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
] as const;

async function executable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The browser's executable, installing Debian's `chromium` package when it is absent.
 *
 * @throws Error naming the command that failed when the browser is absent and cannot be installed.
 */
export async function ensureChromium(): Promise<string> {
  const path = process.env.ASSAY_CHROMIUM ?? defaultExecutable;
  if (await executable(path)) return path;
  try {
    await run('apt-get', ['install', '-y', '--no-install-recommends', 'chromium'], {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    throw new Error(
      `chromium is not installed at ${path} and 'apt-get install -y chromium' failed: ${String(err)}`,
    );
  }
  if (!(await executable(path))) throw new Error(`'apt-get install chromium' did not install ${path}`);
  return path;
}

/** Launches headless Chromium (installing it first when needed). Close the browser in `afterAll`. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureChromium();
  return await chromium.launch({ executablePath, headless: true, args: [...chromiumArgs] });
}
