import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { kubeLayout } from '../src/stack/kube/layout.js';
import { createStackContext, stackDown, stackUp, stderrReporter, type Reporter } from '../src/stack/index.js';

// Benchmark: how long `stack up` takes (prints figures; asserts nothing).
//  - reuse:       everything runs; `up` only checks health            (the test suite's common case)
//  - from-cache:  stopped with `down`; binaries, images and state cached (a second run on the same machine)
//  - fresh-state: stopped and the component's state removed (certificates, etcd, containerd content); binaries and
//                 image tarballs still cached, so the only cost left that the first-ever run adds is the Go builds
//  - cold (--cold): a brand-new cache directory and Go build cache, as on a fresh machine: every Go build, every
//                 image, then the start (the Go module cache is kept: downloads depend on the network, not on us)
// Stops and restarts the selected components: do not run it while someone else uses the stack.

const quiet: Reporter = { info: () => undefined, warn: (l) => process.stderr.write(`  warning: ${l}\n`) };

async function timed(label: string, fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  const ms = performance.now() - started;
  process.stdout.write(`${label.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(8)} s\n`);
  return ms;
}

async function main(): Promise<void> {
  const opts = new Command('stack-up')
    .option('--components <names>', 'comma-separated components to measure', 'kubernetes')
    .option('--rounds <n>', 'repetitions of each measurement', '2')
    .option('--skip-fresh', 'do not remove state (certificates, etcd, containerd content)')
    .option(
      '--cold',
      'also measure a cold start: empty cache and Go build cache (builds everything: 20-40 min)',
    )
    .parse()
    .opts<{ components: string; rounds: string; skipFresh?: boolean; cold?: boolean }>();
  const components = opts.components.split(',').filter(Boolean);
  const rounds = Number(opts.rounds);
  const o = { components, reporter: quiet };
  const ctx = createStackContext();

  process.stdout.write(`stack up benchmark: components ${components.join(', ')}, ${rounds} round(s)\n`);
  await timed('initial up (whatever state)', () => stackUp(o));
  for (let r = 1; r <= rounds; r++) {
    await timed(`reuse (all running) #${r}`, () => stackUp(o));
  }
  for (let r = 1; r <= rounds; r++) {
    await timed(`down #${r}`, () => stackDown(o));
    await timed(`from cache (stopped) #${r}`, () => stackUp(o));
  }
  if (!opts.skipFresh && components.includes('kubernetes')) {
    for (let r = 1; r <= rounds; r++) {
      await timed(`down #${rounds + r}`, () => stackDown(o));
      await rm(kubeLayout(ctx.paths).dir, { recursive: true, force: true });
      await timed(`fresh state (binaries cached) #${r}`, () => stackUp(o));
    }
  }
  if (opts.cold) {
    const dir = await mkdtemp(join(tmpdir(), 'assay-cold-'));
    const env = { ...process.env, ASSAY_CACHE_DIR: dir, GOCACHE: join(dir, 'go-build') };
    const cold = { components, env, reporter: stderrReporter };
    await timed('down (the regular stack)', () => stackDown(o));
    try {
      await timed('cold (empty caches, builds all)', () => stackUp(cold));
      await timed('reuse (cold cache, running)', () => stackUp(cold));
    } finally {
      await stackDown(cold);
      await rm(dir, { recursive: true, force: true });
      await timed('up (the regular stack again)', () => stackUp(o));
    }
  }
}

main().catch((err: unknown) => {
  process.stderr.write(
    `bench/stack-up: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
