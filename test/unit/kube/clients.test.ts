import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig, RequestContext, HttpMethod } from '@kubernetes/client-node';
import { createKubeClients } from '../../../src/kube/clients.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');

function kubeconfig(cert: string): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'c', cluster: { server: 'https://127.0.0.1:6443', 'certificate-authority-data': b64('ca') } },
    ],
    users: [{ name: 'u', user: { 'client-certificate-data': b64(cert), 'client-key-data': b64('key') } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

async function dispatcherOf(config: KubeConfig): Promise<unknown> {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/pods', HttpMethod.GET);
  await config.applySecurityAuthentication(context);
  return context.getDispatcher();
}

describe('createKubeClients', () => {
  const dir = mkdtempSync(join(tmpdir(), 'assay-clients-'));
  const path = join(dir, 'kubeconfig');

  it('gives every API call the same connection pool while the TLS material stays the same', async () => {
    writeFileSync(path, kubeconfig('cert-1'));
    const { config } = createKubeClients({ kind: 'kubeconfig', path, context: null });
    const first = await dispatcherOf(config);
    expect(first).toBeDefined();
    expect(await dispatcherOf(config)).toBe(first);
    // A rotated client certificate: a new pool.
    const user = config.getCurrentUser()!;
    (user as { certData?: string }).certData = b64('cert-2');
    const rotated = await dispatcherOf(config);
    expect(rotated).toBeDefined();
    expect(rotated).not.toBe(first);
    expect(await dispatcherOf(config)).toBe(rotated);
  });

  it('is needed: the client library alone builds a new pool (a new TLS connection) for every call', async () => {
    // When this fails, the library reuses its dispatchers itself and reuseConnections can go.
    writeFileSync(path, kubeconfig('cert-1'));
    const config = new KubeConfig();
    config.loadFromFile(path);
    expect(await dispatcherOf(config)).not.toBe(await dispatcherOf(config));
  });
});
