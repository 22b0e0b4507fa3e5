/**
 * The `admission` component of the local stack: the EvaluationJob CRD and the admission webhook configurations,
 * pointing at `assay admission` on its default address (docs/kubernetes.md). `up` generates a CA and a serving
 * certificate for 127.0.0.1 and the node IP (kept under `<cache>/stack/admission/pki`, where `assay admission` looks
 * by default), then applies the CRD and both webhook configurations with that CA bundle (server-side apply, so
 * re-running changes nothing). It starts no process: `assay admission` is the user's, like the worker.
 *
 * `down` leaves the objects in the cluster (they live in its etcd and are re-applied by the next `up`).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import {
  ADMISSION_DEFAULT_HOST,
  ADMISSION_DEFAULT_PORT,
  localStackAdmissionTls,
} from '../../admission/defaults.js';
import { admissionManifests, webhookConfigurationName } from '../../admission/manifests.js';
import { evaluationJobCrdName } from '../../spec/crd.js';
import type { Component, ComponentStatus, StackContext, UpOutcome } from '../component.js';
import { run } from '../images/exec.js';
import { componentDir } from '../paths.js';
import { CLUSTER, detectNodeIp, kubeLayout } from './layout.js';
import { ensurePki, pkiPaths } from './pki.js';
import { httpsGet, httpsProbe } from './probes.js';

const COMPONENT = 'admission';

/** The base URL the API server calls: `assay admission`'s default address. */
export function admissionUrl(): string {
  return `https://${ADMISSION_DEFAULT_HOST}:${ADMISSION_DEFAULT_PORT}`;
}

function kubectlArgs(ctx: StackContext): { kubectl: string; kubeconfig: string } {
  const l = kubeLayout(ctx.paths);
  return { kubectl: join(l.binDir, 'kubectl'), kubeconfig: `--kubeconfig=${l.adminKubeconfig}` };
}

export const admissionComponent: Component = {
  name: COMPONENT,
  description: `the EvaluationJob CRD and admission webhooks, served by \`assay admission\` on ${admissionUrl()}`,

  async up(ctx: StackContext): Promise<UpOutcome> {
    const tls = localStackAdmissionTls(ctx.config.cacheRoot);
    const nodeIp = await detectNodeIp();
    const pki = await ensurePki(
      tls.dir,
      [
        {
          name: 'admission',
          commonName: 'assay-admission',
          server: true,
          dnsNames: ['localhost', 'assay-admission.assay-system.svc'],
          ips: ['127.0.0.1', nodeIp],
        },
      ],
      { caCommonName: 'assay-local-admission-ca', serviceAccountKeys: false },
    );
    if (pki.issued.length) ctx.reporter.info(`issued the admission certificates (${pki.issued.join(', ')})`);
    const caBundle = (await readFile(pki.caCert)).toString('base64');
    const manifests = admissionManifests({ url: admissionUrl(), caBundle });
    const dir = componentDir(ctx.paths, COMPONENT);
    await mkdir(dir, { recursive: true });
    const file = join(dir, 'manifests.yaml');
    await writeFile(
      file,
      manifests.map((m) => stringify(m, { lineWidth: 0, aliasDuplicateObjects: false })).join('---\n'),
    );
    const { kubectl, kubeconfig } = kubectlArgs(ctx);
    await run(
      kubectl,
      [kubeconfig, 'apply', '--server-side', '--force-conflicts', '--field-manager=assay-stack', '-f', file],
      { timeoutMs: 60_000 },
    );
    await run(
      kubectl,
      [kubeconfig, 'wait', '--for=condition=Established', `crd/${evaluationJobCrdName}`, '--timeout=60s'],
      { timeoutMs: 70_000 },
    );
    return 'reused';
  },

  down(): Promise<void> {
    return Promise.resolve();
  },

  async status(ctx: StackContext): Promise<ComponentStatus> {
    const l = kubeLayout(ctx.paths);
    const p = pkiPaths(l.pki);
    const admin = { ca: p.caCert, certFile: p.cert('admin'), keyFile: p.key('admin') };
    const api = `https://127.0.0.1:${CLUSTER.apiserverPort}`;
    const problems: string[] = [];
    const crd = await httpsGet(
      `${api}/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${evaluationJobCrdName}`,
      admin,
    );
    if (typeof crd === 'string') problems.push(crd);
    else if (crd.status !== 200) problems.push(`CRD ${evaluationJobCrdName} missing (${crd.status})`);
    for (const kind of ['validatingwebhookconfigurations', 'mutatingwebhookconfigurations']) {
      const res = await httpsGet(
        `${api}/apis/admissionregistration.k8s.io/v1/${kind}/${webhookConfigurationName}`,
        admin,
      );
      if (typeof res === 'string') problems.push(res);
      else if (res.status !== 200)
        problems.push(`${kind}/${webhookConfigurationName} missing (${res.status})`);
    }
    const tls = localStackAdmissionTls(ctx.config.cacheRoot);
    const server = await httpsProbe(`${admissionUrl()}/healthz`, { ca: tls.caFile }, 1_000);
    const detail = [
      problems.length ? problems.join('; ') : `CRD ${evaluationJobCrdName} and webhooks installed`,
      server === true
        ? 'assay admission answering'
        : 'assay admission not running (start: npx assay admission)',
    ].join('; ');
    return { healthy: problems.length === 0, managed: true, address: admissionUrl(), detail };
  },

  env(): Promise<{ vars: Record<string, string> }> {
    return Promise.resolve({ vars: {} });
  },
};
