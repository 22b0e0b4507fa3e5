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

/**
 * The gVisor module version runsc and its containerd shim are built from (a pseudo-version: gVisor tags no module
 * releases; this one was `@latest` on the Go module proxy).
 */
export const GVISOR_MODULE = 'gvisor.dev/gvisor';
export const GVISOR_REF = 'v0.0.0-20260905035102-160fafc42237';
/** The shim's file name: containerd derives it from `runtime_type = "io.containerd.runsc.v1"` and finds it on PATH. */
export const GVISOR_SHIM = 'containerd-shim-runsc-v1';

export const gvisorPatchDir = join(repoRoot, 'deploy/local/gvisor');
/**
 * Patches to gVisor's containerd shim for Debian's containerd 1.6 and for machines without CAP_SYS_RESOURCE; each file
 * says why it exists.
 */
export const gvisorShimPatches = [
  '0001-shim-oom-score-non-fatal.patch',
  '0002-shim-plain-address-for-containerd-1.6.patch',
].map((f) => join(gvisorPatchDir, f));

/** The gVisor version without the `v0.0.0-` of its pseudo-version: `<date>-<commit>`. */
export function gvisorVersion(): string {
  return GVISOR_REF.replace(/^v0\.0\.0-/, '');
}

/** Cache key of the shim: the gVisor version plus a hash of the patches, so that editing one rebuilds it. */
export async function gvisorShimVersion(): Promise<string> {
  return `${gvisorVersion()}-${await hashFiles(gvisorShimPatches)}`;
}

export interface GvisorBinaries {
  /** runsc, the gVisor runtime (static: it re-executes itself inside an empty chroot). */
  readonly runsc: string;
  /** `containerd-shim-runsc-v1`, gVisor's own shim, patched (see {@link gvisorShimPatches}). */
  readonly shim: string;
}

/**
 * runsc (`go install`) and gVisor's containerd shim (built from a patched, vendored copy of the same module version),
 * both static, 1-2 min each when not cached.
 *
 * @throws {GoBuildError} when a build fails or a patch no longer applies.
 */
export async function ensureGvisorBinaries(ctx: StackContext): Promise<GvisorBinaries> {
  const env = { CGO_ENABLED: '0' };
  const runsc = await ensureGoBinary(ctx, {
    name: 'runsc',
    version: gvisorVersion(),
    pkg: `${GVISOR_MODULE}/runsc`,
    ref: GVISOR_REF,
    ldflags: '-s -w',
    env,
  });
  const shim = await ensureGoBinary(ctx, {
    name: 'gvisor-shim',
    version: await gvisorShimVersion(),
    binary: GVISOR_SHIM,
    pkg: './shim',
    ldflags: '-s -w',
    env,
    patchedModule: { module: GVISOR_MODULE, ref: GVISOR_REF, patches: gvisorShimPatches },
  });
  return { runsc, shim };
}
