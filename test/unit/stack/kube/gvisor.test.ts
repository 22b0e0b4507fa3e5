import { readFile } from 'node:fs/promises';
import { describe, expect, it } from '@jest/globals';
import {
  GVISOR_REF,
  gvisorShimPatches,
  gvisorShimVersion,
  gvisorVersion,
} from '../../../../src/stack/kube/binaries.js';
import {
  containerdToml,
  GVISOR_RUNTIME_CLASS,
  runscToml,
  runtimeClassYaml,
} from '../../../../src/stack/kube/configs.js';
import { kubeLayout } from '../../../../src/stack/kube/layout.js';
import { stackPaths } from '../../../../src/stack/paths.js';

const l = kubeLayout(stackPaths('/cache'));

describe('gVisor in the local cluster', () => {
  it('gives containerd a gvisor runtime backed by the runsc shim and our runsc.toml', () => {
    const toml = containerdToml(l, 'localhost/assay/pause:3.10');
    expect(toml).toContain('[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.gvisor]');
    expect(toml).toContain('runtime_type = "io.containerd.runsc.v1"');
    expect(toml).toContain('TypeUrl = "io.containerd.runsc.v1.options"');
    expect(toml).toContain(`ConfigPath = "${l.runscConfig}"`);
    // runc stays the default: only pods that ask for the RuntimeClass get gVisor.
    expect(toml).toContain('default_runtime_name = "runc"');
  });

  it('runs runsc on systrap, in our state root, applying the pod seccomp profile', () => {
    const toml = runscToml(l, '/cache/bin/runsc-x/runsc');
    expect(toml).toContain('binary_name = "/cache/bin/runsc-x/runsc"');
    expect(toml).toContain(`root = "${l.runscRoot}"`);
    expect(toml).toMatch(/\[runsc_config\]\n\s+platform = "systrap"\n\s+oci-seccomp = "true"/);
    expect(l.runscRoot.startsWith(`${l.containerdDir}/`)).toBe(true);
  });

  it('names the containerd handler in the RuntimeClass', () => {
    expect(GVISOR_RUNTIME_CLASS).toBe('gvisor');
    expect(runtimeClassYaml()).toMatch(/kind: RuntimeClass\nmetadata:\n {2}name: gvisor\nhandler: gvisor\n/);
  });

  it('caches the shim by gVisor version and patch content, each patch saying why it exists', async () => {
    expect(GVISOR_REF).toBe(`v0.0.0-${gvisorVersion()}`);
    expect(await gvisorShimVersion()).toMatch(new RegExp(`^${gvisorVersion()}-[0-9a-f]{12}$`));
    expect(gvisorShimPatches).toHaveLength(2);
    for (const p of gvisorShimPatches) {
      const text = await readFile(p, 'utf8');
      expect(text).toMatch(/^Assay: .+\n\n/);
      expect(text).toMatch(/^--- a\/.+\n\+\+\+ b\/.+\n@@ /m);
    }
  });
});
