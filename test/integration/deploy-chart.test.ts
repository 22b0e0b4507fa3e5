/**
 * The Helm chart rendered by the real Helm (built from its Go module and cached, `src/deploy/tools.ts`): `helm lint`,
 * and the manifests `helm template` produces for the default values and the variants (existing Secrets, Temporal TLS,
 * cert-manager, no janitor, team namespaces). Installing it on the cluster: `helm-install.test.ts`.
 */
import { X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { chartDir, find, helm, helmBinary, renderChart, type KubeObject } from '../support/helm.js';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  nonResourceURLs?: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[];
  securityContext: Record<string, unknown>;
  volumeMounts: { name: string; mountPath: string }[];
}
interface PodTemplate {
  spec: {
    serviceAccountName: string;
    securityContext: Record<string, unknown>;
    containers: Container[];
    volumes: { name: string; secret?: { secretName: string } }[];
  };
  metadata: { annotations?: Record<string, string> };
}

const rules = (o: KubeObject): Rule[] => (o as unknown as { rules: Rule[] }).rules;
const podTemplate = (o: KubeObject): PodTemplate =>
  (o as unknown as { spec: { template: PodTemplate } }).spec.template;
const container = (o: KubeObject): Container => {
  const c = podTemplate(o).spec.containers[0];
  if (!c) throw new Error(`${o.metadata.name} has no container`);
  return c;
};
const envOf = (o: KubeObject, name: string) => container(o).env.find((e) => e.name === name);

beforeAll(async () => {
  await helmBinary();
}, 20 * 60_000);

describe('helm lint', () => {
  it('passes with the default values and --strict', async () => {
    const { stdout } = await helm(['lint', '--strict', chartDir]);
    expect(stdout).toContain('1 chart(s) linted, 0 chart(s) failed');
  });

  it('refuses values the schema forbids, naming the field', async () => {
    const result = await helm(
      ['template', 'x', chartDir, '--set', 'worker.replicas=-1', '--set', 'bogus=1'],
      {
        allowFailure: true,
      },
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/worker\.replicas|replicas/);
    expect(result.stderr).toMatch(/bogus/);
  });
});

describe('helm template with the default values', () => {
  let objects: KubeObject[];
  beforeAll(async () => {
    objects = await renderChart({ teams: [{ name: 'research' }] });
  });

  it('renders the worker, a 2-replica controller and the admission webhook with its Service', () => {
    const kinds = objects.map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual(
      expect.arrayContaining([
        'Deployment/assay-worker',
        'Deployment/assay-controller',
        'Deployment/assay-admission',
        'Service/assay-admission',
        'Secret/assay-admission-tls',
        'ConfigMap/assay-worker',
        'CustomResourceDefinition/evaluationjobs.assay.dev',
        'PriorityClass/assay-low',
        'PriorityClass/assay-normal',
        'PriorityClass/assay-high',
        'MutatingWebhookConfiguration/assay-admission',
        'ValidatingWebhookConfiguration/assay-admission',
        'Namespace/assay-research',
        'Role/assay-worker',
        'PodDisruptionBudget/assay-worker',
      ]),
    );
    expect(kinds).not.toContain('ServiceMonitor/assay-worker');
    expect((find(objects, 'Deployment', 'assay-controller').spec as { replicas: number }).replicas).toBe(2);
    expect(container(find(objects, 'Deployment', 'assay-controller')).args).toEqual([
      '/app/dist/assay.js',
      'controller',
    ]);
    expect(envOf(find(objects, 'Deployment', 'assay-controller'), 'ASSAY_CONTROLLER_LEASE')?.value).toBe(
      'assay-controller',
    );
  });

  it('runs every container non-root on a read-only root with no capabilities', () => {
    for (const name of ['assay-worker', 'assay-controller', 'assay-admission']) {
      const d = find(objects, 'Deployment', name);
      expect(container(d).image).toBe('localhost/assay/worker:0.1.0');
      expect(container(d).securityContext).toMatchObject({
        runAsNonRoot: true,
        runAsUser: 65532,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      });
      expect(container(d).volumeMounts.map((m) => m.mountPath)).toContain('/tmp');
    }
  });

  it('gives the worker an in-cluster registry entry in its config file, rolled when it changes', () => {
    const config = find(objects, 'ConfigMap', 'assay-worker') as unknown as { data: Record<string, string> };
    const file = parse(config.data['worker.yaml'] ?? '') as Record<string, unknown>;
    expect(file).toMatchObject({
      taskQueue: 'assay',
      clusters: [{ name: 'in-cluster', inCluster: true, namespaceTemplate: 'assay-{team}' }],
      metrics: { port: 9464, host: '0.0.0.0' },
    });
    const worker = find(objects, 'Deployment', 'assay-worker');
    expect(podTemplate(worker).metadata.annotations?.['checksum/config']).toMatch(/^[a-f0-9]{64}$/);
    expect((worker.spec as { strategy: unknown }).strategy).toEqual({
      type: 'RollingUpdate',
      rollingUpdate: { maxUnavailable: 0, maxSurge: 1 },
    });
  });

  it('renders the CRD of deploy/crd, kept on uninstall, its conversion pointed at the release', async () => {
    const crd = find(objects, 'CustomResourceDefinition', 'evaluationjobs.assay.dev');
    const source = parse(
      await readFile(join(process.cwd(), 'deploy/crd/evaluationjobs.assay.dev.yaml'), 'utf8'),
    ) as {
      spec: { conversion: { webhook: { clientConfig: unknown } } };
    };
    const rendered = crd as unknown as typeof source & { metadata: { annotations: Record<string, string> } };
    expect(rendered.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    const ca = (find(objects, 'Secret', 'assay-admission-tls') as unknown as { data: Record<string, string> })
      .data;
    expect(rendered.spec.conversion.webhook.clientConfig).toEqual({
      service: { namespace: 'assay-system', name: 'assay-admission', path: '/convert', port: 443 },
      caBundle: ca['ca.crt'],
    });
    // Everything but the conversion's client config is deploy/crd's.
    const strip = (o: typeof source) => ({
      ...o,
      metadata: { name: 'evaluationjobs.assay.dev' },
      spec: {
        ...o.spec,
        conversion: { ...o.spec.conversion, webhook: { ...o.spec.conversion.webhook, clientConfig: null } },
      },
    });
    expect(strip(rendered)).toEqual(strip(source));
  });

  it("signs the webhook's certificate for its Service with the CA every webhook configuration trusts", () => {
    const secret = find(objects, 'Secret', 'assay-admission-tls') as unknown as {
      data: Record<string, string>;
    };
    const crt = Buffer.from(secret.data['tls.crt'] ?? '', 'base64').toString();
    expect(crt).toContain('BEGIN CERTIFICATE');
    const x509 = new X509Certificate(crt);
    expect(x509.subjectAltName).toContain('DNS:assay-admission.assay-system.svc');
    const ca = new X509Certificate(Buffer.from(secret.data['ca.crt'] ?? '', 'base64').toString());
    expect(x509.verify(ca.publicKey)).toBe(true);
    for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
      const hooks = (
        find(objects, kind, 'assay-admission') as unknown as {
          webhooks: {
            failurePolicy: string;
            clientConfig: { caBundle: string; service: { name: string } };
          }[];
        }
      ).webhooks;
      expect(hooks).toHaveLength(1);
      expect(hooks[0]).toMatchObject({
        failurePolicy: 'Fail',
        clientConfig: { caBundle: secret.data['ca.crt'], service: { name: 'assay-admission' } },
      });
    }
  });

  it('reads Secrets only in team namespaces: no ClusterRole grants secrets', () => {
    for (const role of objects.filter((o) => o.kind === 'ClusterRole')) {
      for (const rule of rules(role)) expect(rule.resources ?? []).not.toContain('secrets');
      for (const rule of rules(role)) expect(rule.verbs).not.toContain('*');
    }
    const team = objects.find((o) => o.kind === 'Role' && o.metadata.namespace === 'assay-research');
    expect(team).toBeDefined();
    expect(rules(team as KubeObject)).toContainEqual({
      apiGroups: [''],
      resources: ['secrets'],
      verbs: ['get'],
    });
    const binding = objects.find(
      (o) => o.kind === 'RoleBinding' && o.metadata.namespace === 'assay-research',
    );
    expect((binding as unknown as { subjects: unknown[] }).subjects).toEqual([
      { kind: 'ServiceAccount', name: 'assay-worker', namespace: 'assay-system' },
    ]);
    const ns = find(objects, 'Namespace', 'assay-research') as unknown as {
      metadata: { labels: Record<string, string> };
    };
    expect(ns.metadata.labels).toMatchObject({
      'assay.dev/team': 'research',
      'pod-security.kubernetes.io/enforce': 'restricted',
    });
  });

  it("the controller's Lease is a Role in the release namespace, its writes limited to its own Lease", () => {
    const role = find(objects, 'Role', 'assay-controller-lease');
    expect(role.metadata.namespace).toBe('assay-system');
    expect(rules(role)).toContainEqual({
      apiGroups: ['coordination.k8s.io'],
      resources: ['leases'],
      resourceNames: ['assay-controller'],
      verbs: ['get', 'update'],
    });
  });
});

describe('helm template variants', () => {
  it('takes the S3 credentials and the Temporal client certificate from existing Secrets', async () => {
    const objects = await renderChart({
      s3: { existingSecret: 'my-s3', endpoint: 'https://minio.example:9000', forcePathStyle: true },
      temporal: {
        address: 'ns.tmprl.cloud:7233',
        namespace: 'ns',
        tls: { enabled: true, existingSecret: 'my-tls' },
      },
    });
    expect(objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'assay-s3')).toBeUndefined();
    const worker = find(objects, 'Deployment', 'assay-worker');
    expect(envOf(worker, 'ASSAY_S3_ACCESS_KEY_ID')?.valueFrom?.secretKeyRef).toEqual({
      name: 'my-s3',
      key: 'accessKeyId',
    });
    expect(envOf(worker, 'ASSAY_S3_ENDPOINT')?.value).toBe('https://minio.example:9000');
    expect(envOf(worker, 'TEMPORAL_TLS_CERT')?.value).toBe('/etc/assay/temporal-tls/tls.crt');
    for (const name of ['assay-worker', 'assay-controller']) {
      const d = find(objects, 'Deployment', name);
      expect(podTemplate(d).spec.volumes).toContainEqual(
        expect.objectContaining({
          name: 'temporal-tls',
          secret: expect.objectContaining({ secretName: 'my-tls' }),
        }),
      );
    }
  });

  it('creates the S3 Secret from values only when no existing one is named', async () => {
    const objects = await renderChart({
      s3: { accessKeyId: 'AKIAEXAMPLE', secretAccessKey: 'secretsecretsecret' },
    });
    const secret = find(objects, 'Secret', 'assay-s3') as unknown as { data: Record<string, string> };
    expect(Buffer.from(secret.data.accessKeyId ?? '', 'base64').toString()).toBe('AKIAEXAMPLE');
  });

  it('with cert-manager: an Issuer and a Certificate, and the CA injected instead of generated', async () => {
    const objects = await renderChart({ admission: { certManager: { enabled: true } } });
    expect(find(objects, 'Certificate', 'assay-admission')).toBeDefined();
    expect(find(objects, 'Issuer', 'assay-admission-selfsigned')).toBeDefined();
    expect(
      objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'assay-admission-tls'),
    ).toBeUndefined();
    const hook = find(objects, 'ValidatingWebhookConfiguration', 'assay-admission') as unknown as {
      metadata: { annotations: Record<string, string> };
      webhooks: { clientConfig: Record<string, unknown> }[];
    };
    expect(hook.metadata.annotations['cert-manager.io/inject-ca-from']).toBe('assay-system/assay-admission');
    expect(hook.webhooks[0]?.clientConfig.caBundle).toBeUndefined();
  });

  it('without the janitor the worker lists only nodes and pods cluster-wide; ServiceMonitor when asked', async () => {
    const objects = await renderChart({
      worker: { janitor: { enabled: false } },
      serviceMonitor: { enabled: true },
    });
    const clusterRole = find(objects, 'ClusterRole', 'assay-worker');
    const listed = rules(clusterRole)
      .filter((rule) => rule.verbs.includes('list'))
      .flatMap((rule) => rule.resources ?? []);
    expect(listed.sort()).toEqual(['nodes', 'pods']);
    expect(find(objects, 'ServiceMonitor', 'assay-worker')).toBeDefined();
  });

  it('leaves out the CRD, the PriorityClasses and the webhook configurations when told to', async () => {
    const objects = await renderChart({
      crd: { install: false },
      priorityClasses: { create: false },
      admission: { registerWebhooks: false },
    });
    const kinds = new Set(objects.map((o) => o.kind));
    for (const kind of [
      'CustomResourceDefinition',
      'PriorityClass',
      'ValidatingWebhookConfiguration',
      'MutatingWebhookConfiguration',
    ])
      expect(kinds.has(kind)).toBe(false);
    // The worker then creates the classes itself.
    expect(rules(find(objects, 'ClusterRole', 'assay-worker'))).toContainEqual({
      apiGroups: ['scheduling.k8s.io'],
      resources: ['priorityclasses'],
      verbs: ['get', 'create'],
    });
  });
});
