/**
 * The worker in a child process, as `npm run worker` runs it (`src/workers/main.ts`, bundling the workflows itself):
 * for scripts and benchmarks that need a worker of their own that they can measure or kill.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const mainPath = fileURLToPath(new URL('./main.ts', import.meta.url));

/**
 * Starts a worker serving `queue` with `env` on top of this process's environment. Resolves once it logs that it
 * serves; rejects, with the end of its stderr, if it exits first.
 */
export function startWorkerProcess(queue: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  // Extra Node flags for the child, e.g. `--cpu-prof --cpu-prof-dir=DIR` to profile the worker under a benchmark.
  const flags = (process.env.ASSAY_WORKER_NODE_FLAGS ?? '').split(' ').filter((f) => f !== '');
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', mainPath], {
    env: { ...process.env, ASSAY_TASK_QUEUE: queue, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('"msg":"serving ')) resolve(child);
    });
    child.once('exit', (code) =>
      reject(new Error(`worker on ${queue} exited with ${code}: ${output.slice(-2000)}`)),
    );
  });
}
