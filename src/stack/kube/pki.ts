import { randomBytes } from 'node:crypto';
import { access, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../images/exec.js';

/** One leaf certificate of the cluster, signed by the cluster CA. */
export interface CertSpec {
  /** File stem: `<name>.crt` / `<name>.key`. */
  readonly name: string;
  readonly commonName: string;
  readonly organization?: string;
  readonly server?: boolean;
  readonly client?: boolean;
  readonly dnsNames?: readonly string[];
  readonly ips?: readonly string[];
}

export interface PkiPaths {
  readonly dir: string;
  readonly caCert: string;
  readonly caKey: string;
  readonly saKey: string;
  readonly saPub: string;
  cert(name: string): string;
  key(name: string): string;
}

export function pkiPaths(dir: string): PkiPaths {
  return {
    dir,
    caCert: join(dir, 'ca.crt'),
    caKey: join(dir, 'ca.key'),
    saKey: join(dir, 'sa.key'),
    saPub: join(dir, 'sa.pub'),
    cert: (name) => join(dir, `${name}.crt`),
    key: (name) => join(dir, `${name}.key`),
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

const days = '3650';

/** Options of {@link ensurePki}. */
export interface PkiOptions {
  /** The CA's common name; the cluster's by default. */
  readonly caCommonName?: string;
  /** Whether to create the service-account key pair (the cluster needs one; another PKI does not). Default true. */
  readonly serviceAccountKeys?: boolean;
}
const ecKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1'];

/** What a leaf certificate was issued for: when it changes (e.g. the node's IP), the certificate is re-issued. */
function fingerprint(spec: CertSpec): string {
  return JSON.stringify(spec);
}

/**
 * Creates the cluster's CA, service-account key pair and leaf certificates with the `openssl` CLI, keeping those
 * that exist and still match their spec (a changed node IP re-issues the serving certificates). ECDSA P-256 keys for
 * TLS, RSA 2048 for service-account tokens.
 *
 * @throws {CommandFailedError} when openssl fails.
 */
export async function ensurePki(
  dir: string,
  certs: readonly CertSpec[],
  options: PkiOptions = {},
): Promise<PkiPaths & { readonly issued: readonly string[] }> {
  const p = pkiPaths(dir);
  const issued: string[] = [];
  await mkdir(dir, { recursive: true, mode: 0o700 });
  let caIssued = false;
  if (!(await exists(p.caCert)) || !(await exists(p.caKey))) {
    await run('openssl', [
      'req',
      '-x509',
      '-new',
      '-nodes',
      ...ecKey,
      '-keyout',
      p.caKey,
      '-out',
      p.caCert,
      '-days',
      days,
      '-subj',
      `/CN=${options.caCommonName ?? 'assay-local-kubernetes-ca'}`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
    ]);
    caIssued = true;
    issued.push('ca');
  }
  if (options.serviceAccountKeys !== false && (!(await exists(p.saKey)) || !(await exists(p.saPub)))) {
    await run('openssl', [
      'genpkey',
      '-algorithm',
      'RSA',
      '-pkeyopt',
      'rsa_keygen_bits:2048',
      '-out',
      p.saKey,
    ]);
    await run('openssl', ['pkey', '-in', p.saKey, '-pubout', '-out', p.saPub]);
  }
  for (const spec of certs) {
    const stamp = join(dir, `${spec.name}.spec.json`);
    const current = await readFile(stamp, 'utf8').catch(() => '');
    if (
      !caIssued &&
      current === fingerprint(spec) &&
      (await exists(p.cert(spec.name))) &&
      (await exists(p.key(spec.name)))
    ) {
      continue;
    }
    await issue(p, spec);
    await writeFile(stamp, fingerprint(spec));
    issued.push(spec.name);
  }
  return { ...p, issued };
}

async function issue(p: PkiPaths, spec: CertSpec): Promise<void> {
  const csr = join(p.dir, `${spec.name}.csr`);
  const ext = join(p.dir, `${spec.name}.ext`);
  const subject = `${spec.organization ? `/O=${spec.organization}` : ''}/CN=${spec.commonName}`;
  const usages = [spec.server ? 'serverAuth' : '', spec.client ? 'clientAuth' : ''].filter(Boolean);
  const sans = [...(spec.dnsNames ?? []).map((d) => `DNS:${d}`), ...(spec.ips ?? []).map((i) => `IP:${i}`)];
  await writeFile(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${usages.join(',')}`,
      ...(sans.length ? [`subjectAltName=${sans.join(',')}`] : []),
      '',
    ].join('\n'),
  );
  try {
    await run('openssl', [
      'req',
      '-new',
      '-nodes',
      ...ecKey,
      '-keyout',
      p.key(spec.name),
      '-out',
      csr,
      '-subj',
      subject,
    ]);
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      p.caCert,
      '-CAkey',
      p.caKey,
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-days',
      days,
      '-sha256',
      '-extfile',
      ext,
      '-out',
      p.cert(spec.name),
    ]);
  } finally {
    await rm(csr, { force: true });
    await rm(ext, { force: true });
  }
}

/** A kubeconfig with embedded credentials for one identity, talking to `server`. */
export async function kubeconfigYaml(
  p: PkiPaths,
  opts: { server: string; user: string; certName: string; cluster?: string },
): Promise<string> {
  const b64 = async (f: string) => (await readFile(f)).toString('base64');
  const cluster = opts.cluster ?? 'assay-local';
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: ${cluster}`,
    '  cluster:',
    `    server: ${opts.server}`,
    `    certificate-authority-data: ${await b64(p.caCert)}`,
    'users:',
    `- name: ${opts.user}`,
    '  user:',
    `    client-certificate-data: ${await b64(p.cert(opts.certName))}`,
    `    client-key-data: ${await b64(p.key(opts.certName))}`,
    'contexts:',
    `- name: ${cluster}`,
    '  context:',
    `    cluster: ${cluster}`,
    `    user: ${opts.user}`,
    `current-context: ${cluster}`,
    '',
  ].join('\n');
}
