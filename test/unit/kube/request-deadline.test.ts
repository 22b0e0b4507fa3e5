import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CustomObjectsApi, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import { apiClient, createKubeClients, KubeRequestTimeoutError } from '../../../src/kube/clients.js';
import { writeFakeKubeconfig } from '../../support/fake-kubeconfig.js';

/** A fake API server that answers `/fast` at once and never answers anything else (a connection that hangs). */
let server: Server;
let kubeconfig: string;
let dir: string;
const hanging: ServerResponse[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    if ((req.url ?? '').includes('/pods/fast'))
      res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'fast' } }));
    else hanging.push(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  dir = await mkdtemp(join(tmpdir(), 'assay-kube-deadline-'));
  kubeconfig = await writeFakeKubeconfig(dir, port);
});

afterAll(async () => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('the deadline of a generated-client call', () => {
  it('fails a call that gets no answer with KubeRequestTimeoutError naming it, reported as code timeout', async () => {
    const codes: string[] = [];
    const kube = createKubeClients(
      { kind: 'kubeconfig', path: kubeconfig, context: null },
      { requestTimeoutMs: 300, onApiError: (code) => codes.push(code) },
    );
    const t0 = Date.now();
    const err: unknown = await kube.batch.deleteNamespacedJob({ name: 'slow', namespace: 'ns' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KubeRequestTimeoutError);
    expect((err as Error).message).toMatch(
      /^Kubernetes API request DELETE http:\/\/127\.0\.0\.1:\d+\/apis\/batch\/v1\/namespaces\/ns\/jobs\/slow had no answer within 0\.3 s$/,
    );
    expect(Date.now() - t0).toBeLessThan(5_000);
    // API clients made beside the standard ones have the deadline too.
    await expect(
      apiClient(kube, CustomObjectsApi).getNamespacedCustomObject({
        group: 'g',
        version: 'v1',
        namespace: 'ns',
        plural: 'p',
        name: 'slow',
      }),
    ).rejects.toBeInstanceOf(KubeRequestTimeoutError);
    // So do calls with per-call options (a JSON patch sets its content type through them).
    await expect(
      kube.core.patchNamespacedPod(
        { name: 'slow', namespace: 'ns', body: [{ op: 'remove', path: '/metadata/finalizers/0' }] },
        setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
      ),
    ).rejects.toBeInstanceOf(KubeRequestTimeoutError);
    expect(codes).toEqual(['timeout', 'timeout', 'timeout']);
    // A call that is answered in time is not affected, and its pending deadline does not fire into it later.
    const pod = await kube.core.readNamespacedPod({ name: 'fast', namespace: 'ns' });
    expect(pod.metadata?.name).toBe('fast');
    await new Promise((r) => setTimeout(r, 400));
    expect(codes).toHaveLength(3);
  });

  it('0 turns the deadline off', async () => {
    const kube = createKubeClients(
      { kind: 'kubeconfig', path: kubeconfig, context: null },
      { requestTimeoutMs: 0 },
    );
    const settled = await Promise.race([
      kube.core.readNamespacedPod({ name: 'slow', namespace: 'ns' }).then(
        () => 'answered',
        () => 'failed',
      ),
      new Promise((r) => setTimeout(() => r('still waiting'), 500)),
    ]);
    expect(settled).toBe('still waiting');
  });
});
