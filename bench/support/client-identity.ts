/**
 * One client's Kubernetes API requests as the API server counts them. `apiserver_request_total` has no per-client
 * label, but API Priority and Fairness counts every request it dispatches by the FlowSchema that matched it
 * (`apiserver_flowcontrol_dispatched_requests_total{flow_schema}`): a ServiceAccount of its own, and a FlowSchema that
 * matches only that ServiceAccount, make the API server itself count that client's requests. Long-running requests
 * other than watches (log streams, exec) bypass APF, so they are not in the count.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FlowcontrolApiserverV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { getText, type KubeClients } from '../../src/kube/clients.js';

export interface ClientIdentity {
  /** A kubeconfig that authenticates as the identity's ServiceAccount (give it to the measured process). */
  readonly kubeconfigPath: string;
  /** Requests dispatched for the identity so far. */
  requests(): Promise<number>;
  /** Removes the ServiceAccount, its binding, the FlowSchema and the kubeconfig. */
  remove(): Promise<void>;
}

const namespace = 'kube-system';

const ignoreConflict = (err: unknown): void => {
  if ((err as { code?: number }).code !== 409) throw err;
};

/** Creates identity `name` (cluster-admin: for benchmarks on the local stack only). */
export async function createClientIdentity(kube: KubeClients, name: string): Promise<ClientIdentity> {
  const rbac = kube.config.makeApiClient(RbacAuthorizationV1Api);
  const flow = kube.config.makeApiClient(FlowcontrolApiserverV1Api);
  await kube.core
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name } } })
    .catch(ignoreConflict);
  await rbac
    .createClusterRoleBinding({
      body: {
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
        subjects: [{ kind: 'ServiceAccount', name, namespace }],
      },
    })
    .catch(ignoreConflict);
  await flow
    .createFlowSchema({
      body: {
        metadata: { name },
        spec: {
          // Before every built-in schema that could match a ServiceAccount (the lowest built-in is 200); exempt from
          // queueing, like the admin credentials the worker has otherwise.
          matchingPrecedence: 100,
          priorityLevelConfiguration: { name: 'exempt' },
          distinguisherMethod: { type: 'ByUser' },
          rules: [
            {
              subjects: [{ kind: 'ServiceAccount', serviceAccount: { name, namespace } }],
              resourceRules: [
                { verbs: ['*'], apiGroups: ['*'], resources: ['*'], namespaces: ['*'], clusterScope: true },
              ],
              nonResourceRules: [{ verbs: ['*'], nonResourceURLs: ['*'] }],
            },
          ],
        },
      },
    })
    .catch(ignoreConflict);
  const token = await kube.core.createNamespacedServiceAccountToken({
    name,
    namespace,
    body: { spec: { expirationSeconds: 4 * 3600 } },
  });
  const cluster = kube.config.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig has no current cluster');
  const config = new KubeConfig();
  config.loadFromOptions({
    clusters: [cluster],
    users: [{ name, token: token.status?.token }],
    contexts: [{ name, cluster: cluster.name, user: name }],
    currentContext: name,
  });
  const dir = await mkdtemp(join(tmpdir(), 'assay-bench-identity-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(kubeconfigPath, config.exportConfig(), { mode: 0o600 });
  return {
    kubeconfigPath,
    requests: () => dispatched(kube, name),
    remove: async () => {
      await flow.deleteFlowSchema({ name }).catch(() => undefined);
      await rbac.deleteClusterRoleBinding({ name }).catch(() => undefined);
      await kube.core.deleteNamespacedServiceAccount({ name, namespace }).catch(() => undefined);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function dispatched(kube: Pick<KubeClients, 'config'>, flowSchema: string): Promise<number> {
  let total = 0;
  for (const line of (await getText(kube.config, '/metrics')).split('\n')) {
    const m = /^apiserver_flowcontrol_dispatched_requests_total\{([^}]*)\} (\S+)/.exec(line);
    if (m?.[1]?.includes(`flow_schema="${flowSchema}"`)) total += Number(m[2]);
  }
  return total;
}
