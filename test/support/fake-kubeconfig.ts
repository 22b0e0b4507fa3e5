import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Writes a kubeconfig at `<dir>/config` whose one context points at a fake API server on plain HTTP (the client
 * allows HTTP only with insecure-skip-tls-verify) with a token user; returns its path.
 */
export async function writeFakeKubeconfig(dir: string, port: number): Promise<string> {
  const path = join(dir, 'config');
  await writeFile(
    path,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        { name: 'c', cluster: { server: `http://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } },
      ],
      users: [{ name: 'u', user: { token: 't' } }],
      contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
      'current-context': 'x',
    }),
  );
  return path;
}
