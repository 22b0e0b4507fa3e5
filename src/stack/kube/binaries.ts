import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { StackContext } from '../component.js';
import { ensureGoBinary, hashFiles } from '../go-build.js';

/** The Kubernetes release the local cluster runs (the wrapper module in `deploy/local/kube` pins the same). */
export const KUBERNETES_VERSION = '1.34.4';
/** The etcd release (the wrapper module in `deploy/local/etcd` pins the same). */
export const ETCD_VERSION = '3.6.16';
/** kube-router, the NetworkPolicy enforcer (the only v2 release the Go module proxy serves). */
export const KUBE_ROUTER_VERSION = '2.1.0';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
export const kubeModule = join(repoRoot, 'deploy/local/kube');
export const etcdModule = join(repoRoot, 'deploy/local/etcd');

async function moduleVersion(release: string, dir: string): Promise<string> {
  return `${release}-${await hashFiles(['go.mod', 'go.sum', 'main.go'].map((f) => join(dir, f)))}`;
}

/** Cache key of the multi-call Kubernetes binary: the release plus a hash of the wrapper module's sources. */
export async function kubeBinaryVersion(): Promise<string> {
  return moduleVersion(KUBERNETES_VERSION, kubeModule);
}

export async function etcdBinaryVersion(): Promise<string> {
  return moduleVersion(ETCD_VERSION, etcdModule);
}

function versionLdflags(): string {
  const [major, minor] = KUBERNETES_VERSION.split('.');
  const v = `v${KUBERNETES_VERSION}`;
  return [
    '-s -w',
    `-X k8s.io/component-base/version.gitVersion=${v}`,
    `-X k8s.io/component-base/version.gitMajor=${major}`,
    `-X k8s.io/component-base/version.gitMinor=${minor}`,
    '-X k8s.io/component-base/version.gitTreeState=clean',
    `-X k8s.io/client-go/pkg/version.gitVersion=${v}`,
    `-X k8s.io/client-go/pkg/version.gitMajor=${major}`,
    `-X k8s.io/client-go/pkg/version.gitMinor=${minor}`,
  ].join(' ');
}

/**
 * The multi-call binary holding kube-apiserver, kube-controller-manager, kube-scheduler, kubelet, kube-proxy and
 * kubectl (the first argument picks one), built from `deploy/local/kube` when not cached: 5-40 min on 2 cores.
 *
 * @throws {GoBuildError} when the build fails.
 */
export async function ensureKubeBinary(ctx: StackContext): Promise<string> {
  return ensureGoBinary(ctx, {
    name: 'kube',
    version: await kubeBinaryVersion(),
    cwd: kubeModule,
    ldflags: versionLdflags(),
  });
}

/**
 * etcd built from `deploy/local/etcd` (Debian's etcd 3.4 is older than Kubernetes 1.34 supports).
 *
 * @throws {GoBuildError} when the build fails.
 */
export async function ensureEtcdBinary(ctx: StackContext): Promise<string> {
  return ensureGoBinary(ctx, {
    name: 'etcd',
    version: await etcdBinaryVersion(),
    cwd: etcdModule,
    ldflags: `-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=assay`,
    env: { CGO_ENABLED: '0' },
  });
}

/**
 * kube-router (`go install` of its release module; 1-3 min), which the node runs as its NetworkPolicy enforcer only.
 *
 * @throws {GoBuildError} when the build fails.
 */
export async function ensureKubeRouterBinary(ctx: StackContext): Promise<string> {
  const pkg = 'github.com/cloudnativelabs/kube-router/v2';
  return ensureGoBinary(ctx, {
    name: 'kube-router',
    version: KUBE_ROUTER_VERSION,
    pkg: `${pkg}/cmd/kube-router`,
    ref: `v${KUBE_ROUTER_VERSION}`,
    ldflags: `-s -w -X ${pkg}/pkg/version.Version=v${KUBE_ROUTER_VERSION}`,
    env: { CGO_ENABLED: '0' },
  });
}
