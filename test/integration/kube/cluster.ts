import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  type V1Container,
  type V1ContainerStateTerminated,
  type V1Pod,
  type V1SecurityContext,
} from '@kubernetes/client-node';
import { ulid } from 'ulid';
import { busyboxImage, collectorImage, pythonImage } from '../../../src/stack/images/catalog.js';
import { imageRef } from '../../../src/stack/images/local-images.js';
import { waitFor } from '../../support/wait-for.js';

// Helpers for the tests against the local stack's real cluster. They read KUBECONFIG, which the Jest global setup
// exports from `stack env`.

export const BUSYBOX = imageRef(busyboxImage);
export const PYTHON = imageRef(pythonImage);
export const COLLECTOR = imageRef(collectorImage);

export interface Cluster {
  readonly kc: KubeConfig;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
}

/** A client for the cluster `KUBECONFIG` names. @throws when KUBECONFIG is not set (no global setup). */
export function connect(): Cluster {
  const path = process.env.KUBECONFIG;
  if (!path)
    throw new Error(
      'KUBECONFIG is not set: run the integration tier through Jest (its global setup starts the stack)',
    );
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return { kc, core: kc.makeApiClient(CoreV1Api), batch: kc.makeApiClient(BatchV1Api) };
}

/** A unique, DNS-safe name: `<prefix>-<lowercase ulid tail>`. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${ulid().toLowerCase().slice(-10)}`;
}

/** Polls `probe` until it returns a value, or fails with the last problem after `timeoutMs` (see `waitFor`). */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  return waitFor<T>(probe, { what, timeoutMs });
}

/**
 * Creates a namespace and waits for its `default` ServiceAccount (the ServiceAccount admission plugin rejects pods
 * until the controller has made it).
 */
export async function createNamespace(
  c: Cluster,
  prefix: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const name = uniqueName(prefix);
  await c.core.createNamespace({
    body: { metadata: { name, labels: { 'assay.dev/test': 'integration', ...labels } } },
  });
  await eventually(`ServiceAccount default in ${name}`, async () =>
    (await c.core.readNamespacedServiceAccount({ name: 'default', namespace: name })) ? true : undefined,
  );
  return name;
}

export async function deleteNamespace(c: Cluster, name: string | undefined): Promise<void> {
  if (!name) return;
  await c.core.deleteNamespace({ name, propagationPolicy: 'Background' }).catch(() => undefined);
}

/** What the `restricted` Pod Security Standard asks of a container. */
export const restrictedSecurityContext: V1SecurityContext = {
  runAsNonRoot: true,
  runAsUser: 65532,
  runAsGroup: 65532,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
};

/** A container of a local image that is never pulled, compliant with the restricted standard. */
export function container(
  name: string,
  image: string,
  command: string[],
  extra: Partial<V1Container> = {},
): V1Container {
  return {
    name,
    image,
    imagePullPolicy: 'Never',
    command,
    securityContext: restrictedSecurityContext,
    ...extra,
  };
}

/** A one-container pod spec: never restarted, no service-account token, quick to delete. */
export function podSpec(
  containers: V1Container[],
  extra: Partial<NonNullable<V1Pod['spec']>> = {},
): NonNullable<V1Pod['spec']> {
  return {
    restartPolicy: 'Never',
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    terminationGracePeriodSeconds: 1,
    containers,
    ...extra,
  };
}

/** Waits until the named container of the pod has terminated, and returns that state. */
export async function waitForTermination(
  c: Cluster,
  namespace: string,
  pod: string,
  containerName = 'main',
  timeoutMs = 90_000,
): Promise<V1ContainerStateTerminated> {
  return eventually(
    `container ${containerName} of ${namespace}/${pod} to terminate`,
    async () => {
      const p = await c.core.readNamespacedPod({ name: pod, namespace });
      return p.status?.containerStatuses?.find((s) => s.name === containerName)?.state?.terminated;
    },
    timeoutMs,
  );
}

/** Waits for the Job controller to create the Job's pod, and returns its name. */
export async function podOfJob(c: Cluster, namespace: string, job: string): Promise<string> {
  return eventually(`a pod of Job ${namespace}/${job}`, async () => {
    const pods = await c.core.listNamespacedPod({ namespace, labelSelector: `job-name=${job}` });
    return pods.items[0]?.metadata?.name;
  });
}

/** The `body` of a client-node ApiException, parsed when it is JSON (the API server's Status object). */
export function apiErrorBody(err: unknown): { code?: number; message?: string; reason?: string } {
  const e = err as { code?: number; body?: unknown };
  let body: unknown = e.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      return { code: e.code, message: body as string };
    }
  }
  const b = (body ?? {}) as { code?: number; message?: string; reason?: string };
  return { code: e.code ?? b.code, message: b.message, reason: b.reason };
}
