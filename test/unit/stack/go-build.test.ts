import { chmod, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from '@jest/globals';
import { GoBuildError } from '../../../src/stack/errors.js';
import { ensureGoBinary } from '../../../src/stack/go-build.js';
import { tempStackContext } from './helpers.js';

// A stand-in for the Go toolchain: records each invocation, takes a moment, and "installs" a binary into $GOBIN —
// or fails like a compile error when FAKE_GO_FAIL is set.
const fakeGo = `#!/bin/sh
echo "$*" >> "$FAKE_GO_CALLS"
sleep 0.5
if [ -n "$FAKE_GO_FAIL" ]; then echo "main.go:1: syntax error" >&2; exit 1; fi
printf '#!/bin/sh\\necho built\\n' > "$GOBIN/fakebin"
chmod +x "$GOBIN/fakebin"
`;

describe('ensureGoBinary', () => {
  const roots: string[] = [];
  afterEach(async () => {
    for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
  });

  async function setup() {
    const probe = await tempStackContext();
    const go = join(probe.root, 'fake-go');
    await writeFile(go, fakeGo);
    await chmod(go, 0o755);
    const t = await tempStackContext({ ASSAY_GO: go });
    roots.push(probe.root, t.root);
    const calls = join(probe.root, 'calls');
    return { ...t, calls };
  }

  it('builds once for concurrent callers, into the cache path keyed by name and version', async () => {
    const { ctx, calls, root } = await setup();
    const spec = {
      name: 'fakebin',
      version: '1.2.3',
      pkg: 'example.com/fakebin',
      env: { FAKE_GO_CALLS: calls },
    };

    const [a, b] = await Promise.all([ensureGoBinary(ctx, spec), ensureGoBinary(ctx, spec)]);

    expect(a).toBe(join(root, 'bin', 'fakebin-1.2.3', 'fakebin'));
    expect(b).toBe(a);
    const invocations = (await readFile(calls, 'utf8')).trim().split('\n');
    expect(invocations).toEqual(['install -v -trimpath example.com/fakebin@v1.2.3']);
    // Nothing is left in the build area.
    expect(await readdir(join(root, 'build'))).toEqual([]);
  });

  it('never rebuilds what is cached, even without a Go toolchain', async () => {
    const { ctx, calls } = await setup();
    const spec = {
      name: 'fakebin',
      version: '1.2.3',
      pkg: 'example.com/fakebin',
      env: { FAKE_GO_CALLS: calls },
    };
    const path = await ensureGoBinary(ctx, spec);

    const noGo = { ...ctx, config: { ...ctx.config, goBinary: '/nonexistent/go' } };
    expect(await ensureGoBinary(noGo, spec)).toBe(path);
    expect((await readFile(calls, 'utf8')).trim().split('\n')).toHaveLength(1);
  });

  it('fails with the log file and the last line of output, leaving no binary behind', async () => {
    const { ctx, calls, root } = await setup();
    const spec = {
      name: 'fakebin',
      version: '2.0.0',
      pkg: 'example.com/fakebin',
      env: { FAKE_GO_CALLS: calls, FAKE_GO_FAIL: '1' },
    };
    const error = await ensureGoBinary(ctx, spec).catch((err: unknown) => err);

    expect(error).toBeInstanceOf(GoBuildError);
    expect((error as GoBuildError).message).toMatch(/syntax error/);
    const log = (error as GoBuildError).logFile;
    expect(await readFile(log, 'utf8')).toMatch(/main.go:1: syntax error/);
    expect(await readdir(join(root, 'bin')).catch(() => [])).toEqual([]);
  });

  it('says how to get Go when there is none', async () => {
    const { ctx } = await tempStackContext({ ASSAY_GO: '/nonexistent/go' });
    const error = await ensureGoBinary(ctx, { name: 'x', version: '1.0.0', pkg: 'example.com/x' }).catch(
      (err: unknown) => err,
    );
    expect(error).toBeInstanceOf(GoBuildError);
    expect((error as GoBuildError).message).toMatch(/not found .*ASSAY_GO/);
  });

  describe('a patched module', () => {
    // A stand-in for the Go toolchain's three steps: `mod download` names a module directory, `mod vendor` writes a
    // dependency, `build` "compiles" by concatenating the (patched) sources into the output.
    const fakeModGo = `#!/bin/sh
echo "$* (in $(basename "$PWD"))" >> "$FAKE_GO_CALLS"
case "$1 $2" in
  "mod download") printf '{"Path":"example.com/mod","Dir":"%s"}\n' "$FAKE_MOD_DIR" ;;
  "mod vendor") mkdir -p vendor/example.com/dep && printf 'package dep\n\nconst Greeting = "hello"\n' > vendor/example.com/dep/dep.go ;;
  *) while [ "$1" != "-o" ]; do shift; done
     cat main.go vendor/example.com/dep/dep.go > "$2"; chmod +x "$2" ;;
esac
`;
    const vendorPatch = (from: string, to: string) => `Why this patch exists.

--- a/vendor/example.com/dep/dep.go
+++ b/vendor/example.com/dep/dep.go
@@ -1,3 +1,3 @@
 package dep
 
-const Greeting = "${from}"
+const Greeting = "${to}"
`;

    async function setupModule(patch: string) {
      const probe = await tempStackContext();
      const go = join(probe.root, 'fake-go');
      await writeFile(go, fakeModGo);
      await chmod(go, 0o755);
      // Read-only like the module cache.
      const mod = join(probe.root, 'modcache', 'mod@v1');
      await mkdir(mod, { recursive: true });
      await writeFile(join(mod, 'main.go'), 'package main\n');
      await chmod(join(mod, 'main.go'), 0o444);
      await chmod(mod, 0o555);
      const patchFile = join(probe.root, 'fix.patch');
      await writeFile(patchFile, patch);
      const t = await tempStackContext({ ASSAY_GO: go });
      roots.push(t.root);
      // Removed last: the read-only module directory needs its write bit back first.
      const cleanup = async () => {
        await chmod(mod, 0o755);
        await rm(probe.root, { recursive: true, force: true });
      };
      const calls = join(probe.root, 'calls');
      const spec = {
        name: 'patched',
        version: '1.0.0-abc',
        binary: 'patched-bin',
        pkg: './cmd',
        env: { FAKE_GO_CALLS: calls, FAKE_MOD_DIR: mod },
        patchedModule: { module: 'example.com/mod', ref: 'v1.0.0', patches: [patchFile] },
      };
      return { ...t, calls, spec, cleanup };
    }

    it('downloads, vendors, patches and builds it with -mod=vendor', async () => {
      const { ctx, calls, root, spec, cleanup } = await setupModule(vendorPatch('hello', 'patched'));
      try {
        const path = await ensureGoBinary(ctx, spec);

        expect(path).toBe(join(root, 'bin', 'patched-1.0.0-abc', 'patched-bin'));
        expect(await readFile(path, 'utf8')).toContain('const Greeting = "patched"');
        const invocations = (await readFile(calls, 'utf8')).trim().split('\n');
        expect(invocations[0]).toMatch(/^mod download -json example\.com\/mod@v1\.0\.0 \(in /);
        expect(invocations[1]).toBe('mod vendor (in src)');
        expect(invocations[2]).toMatch(
          /^build -mod=vendor -v -trimpath -o \S+\/patched-bin \.\/cmd \(in src\)$/,
        );
        expect(await readdir(join(root, 'build'))).toEqual([]);
      } finally {
        await cleanup();
      }
    });

    it('fails loudly, naming the patch, when a patch no longer applies', async () => {
      const { ctx, calls, root, spec, cleanup } = await setupModule(vendorPatch('goodbye', 'patched'));
      try {
        const error = await ensureGoBinary(ctx, spec).catch((err: unknown) => err);

        expect(error).toBeInstanceOf(GoBuildError);
        expect((error as GoBuildError).message).toMatch(
          /patch fix\.patch does not apply to example\.com\/mod@v1\.0\.0/,
        );
        expect(await readFile((error as GoBuildError).logFile, 'utf8')).toMatch(/FAILED/);
        expect((await readFile(calls, 'utf8')).trim().split('\n')).toHaveLength(2);
        expect(await readdir(join(root, 'bin')).catch(() => [])).toEqual([]);
        expect(await readdir(join(root, 'build'))).toEqual([]);
      } finally {
        await cleanup();
      }
    });
  });
});
