import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import type { StackContext } from '../component.js';
import { binaryDir } from '../paths.js';
import { kubeBinaryVersion } from './binaries.js';
import { kubeLayout } from './layout.js';

/**
 * `npm run stack -- kubectl …`: runs the stack's kubectl against the local cluster (admin kubeconfig) with the
 * caller's terminal, and resolves with its exit code.
 *
 * @throws when the Kubernetes binary has not been built yet (`stack up` builds it).
 */
export async function runKubectl(ctx: StackContext, args: readonly string[]): Promise<number> {
  const kube = join(binaryDir(ctx.paths, 'kube', await kubeBinaryVersion()), 'kube');
  try {
    await access(kube, constants.X_OK);
  } catch {
    throw new Error(`kubectl is not built yet (${kube}); run: npm run stack -- up`);
  }
  const env = { ...process.env, KUBECONFIG: kubeLayout(ctx.paths).adminKubeconfig };
  const child = spawn(kube, ['kubectl', ...args], { stdio: 'inherit', env });
  return new Promise((resolvePromise, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => resolvePromise(code ?? (signal ? 128 : 1)));
  });
}
