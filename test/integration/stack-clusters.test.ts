import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BatchV1Api, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { createStackContext, envBoolean, stackDown, stackStatus, stackUp } from '../../src/stack/index.js';
import { CLUSTER_B, kubeLayout } from '../../src/stack/kube/layout.js';
import {
  BUSYBOX,
  connect,
  container,
  createNamespace,
  deleteNamespace,
  podSpec,
  waitForTermination,
  type Cluster,
} from './kube/cluster.js';

// The local stack's second cluster, `b` (`npm run stack -- up --clusters local,b`): its own control plane on the
// host, its node in the network namespace `assay-b`. Bringing it up costs a few minutes on 2 cores, so this suite is
// skipped unless ASSAY_TEST_CLUSTERS names `b` (e.g. ASSAY_TEST_CLUSTERS=local,b); CI does not set it. It starts `b`
// when it does not run, and stops it again afterwards unless ASSAY_KEEP_STACK=1 (a `b` that was running stays).

const enabled = (process.env.ASSAY_TEST_CLUSTERS ?? '')
  .split(',')
  .map((c) => c.trim())
  .includes('b');

(enabled ? describe : describe.skip)('cluster b of the local stack', () => {
  let b: Cluster;
  let startedB = false;
  let namespace: string | undefined;

  beforeAll(async () => {
    const result = await stackUp({ clusters: ['b'] });
    startedB = result.started.includes(CLUSTER_B.component);
    const kc = new KubeConfig();
    kc.loadFromFile(kubeLayout(createStackContext().paths, CLUSTER_B).adminKubeconfig);
    b = { kc, core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api) };
  }, 15 * 60_000);

  afterAll(async () => {
    if (b) await deleteNamespace(b, namespace);
    if (startedB && envBoolean.parse(process.env.ASSAY_KEEP_STACK) !== true)
      await stackDown({ clusters: ['b'] });
  }, 5 * 60_000);

  it('is a cluster of its own: one Ready node, assay-node-b, on the namespace side of the veth', async () => {
    const nodes = (await b.core.listNode()).items;
    expect(nodes.map((n) => n.metadata?.name)).toEqual([CLUSTER_B.nodeName]);
    const node = nodes[0];
    expect(node?.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(node?.status?.addresses).toContainEqual({ type: 'InternalIP', address: CLUSTER_B.netns?.nodeIp });
    // The local cluster does not see it.
    const local = (await connect().core.listNode()).items.map((n) => n.metadata?.name);
    expect(local).not.toContain(CLUSTER_B.nodeName);
  });

  it('runs a busybox pod to completion in its own pod range, reaching its API server by Service IP', async () => {
    namespace = await createNamespace(b, 'clusters-b');
    // /readyz is open to anonymous clients; kube-proxy in b's namespace sends the Service IP to the API server on the
    // host, which the pod reaches through the node's veth.
    const readyz = `https://${CLUSTER_B.apiserverServiceIp}/readyz`;
    const script = `echo hello from b; wget -q -O - --no-check-certificate ${readyz}; echo`;
    await b.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'hello' },
        spec: podSpec([container('main', BUSYBOX, ['sh', '-c', script])]),
      },
    });
    const terminated = await waitForTermination(b, namespace, 'hello');
    expect(terminated.exitCode).toBe(0);
    const pod = await b.core.readNamespacedPod({ name: 'hello', namespace });
    expect(pod.spec?.nodeName).toBe(CLUSTER_B.nodeName);
    expect(pod.status?.podIP).toMatch(/^10\.245\.0\.\d+$/);
    // Logs come through b's API server from b's kubelet, across the veth.
    const log = await b.core.readNamespacedPodLog({ name: 'hello', namespace, container: 'main' });
    expect(log).toBe('hello from b\nok\n');
  });

  it('is reported healthy by stack status beside local', async () => {
    const report = await stackStatus({ clusters: ['local', 'b'] });
    const status = report.components.find((c) => c.name === CLUSTER_B.component);
    expect(status).toMatchObject({ healthy: true, address: `https://127.0.0.1:${CLUSTER_B.apiserverPort}` });
    expect(status?.detail).toContain(`node ${CLUSTER_B.nodeName} Ready`);
    expect(report.components.find((c) => c.name === 'kubernetes')?.healthy).toBe(true);
  });
});
