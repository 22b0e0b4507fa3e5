/**
 * The real `assay` command as a user runs it (`bin/assay.js` with the project's Node), for the suites that check
 * what the CLI prints and how it exits.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The project's root: where the command runs. */
export const projectRoot = fileURLToPath(new URL('../../', import.meta.url));

/** How a command ended and what it printed. */
export interface CommandRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `command args` in the project's root with `env` over this process's environment; nothing on stdin. */
export function runCommand(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: projectRoot,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs `assay args` with `env` over this process's environment. */
export function runAssay(args: string[], env: Record<string, string> = {}): Promise<CommandRun> {
  return runCommand(process.execPath, [join(projectRoot, 'bin', 'assay.js'), ...args], env);
}
