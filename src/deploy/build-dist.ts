/**
 * The worker image's JavaScript (docs/deploy.md): `dist/worker.js` (the worker) and `dist/assay.js` (the CLI, for
 * `assay controller` and `assay admission`), bundled by esbuild with the npm packages left external, and
 * `dist/ensure-bucket.js` (creates the bucket: docker-compose.yml's `s3-init`), and `dist/workflow-bundle.js`, the workflow bundle the worker reads (ASSAY_WORKFLOW_BUNDLE) instead of bundling
 * `src/workflows` at start-up. Used by the image builder (`./images.ts`) and the Dockerfile:
 * `npx tsx src/deploy/build-dist.ts <outDir>`.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../stack/images/exec.js';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

const esbuildEntries = [
  { entry: 'src/workers/main.ts', out: 'worker.js' },
  { entry: 'src/client/cli/main.ts', out: 'assay.js' },
  { entry: 'src/deploy/ensure-bucket.ts', out: 'ensure-bucket.js' },
] as const;

/** Bundles the worker and CLI entry points into `outDir` (packages stay external: they come from node_modules). */
export async function buildJavaScript(outDir: string): Promise<void> {
  await mkdir(outDir, { recursive: true });
  for (const { entry, out } of esbuildEntries) {
    await run(
      join(repoRoot, 'node_modules/.bin/esbuild'),
      [
        entry,
        '--bundle',
        '--platform=node',
        '--format=esm',
        '--target=node24',
        '--packages=external',
        '--log-level=warning',
        `--outfile=${join(outDir, out)}`,
      ],
      { cwd: repoRoot, timeoutMs: 5 * 60_000 },
    );
  }
  // The worker reads this instead of bundling src/workflows (absent from the image) at start-up.
  const { bundleWorkflowCode } = await import('@temporalio/worker');
  const { workflowInterceptorModules } = await import('../telemetry/temporal.js');
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(repoRoot, 'src/workflows/index.ts'),
    workflowInterceptorModules: [...workflowInterceptorModules],
    logger: {
      log: () => undefined,
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: (m: string) => process.stderr.write(`bundler: ${m}\n`),
      error: (m: string) => process.stderr.write(`bundler: ${m}\n`),
    },
  });
  // Source paths of this checkout appear in the bundle's source map: strip the prefix so the build directory does
  // not change the image.
  await writeFile(join(outDir, 'workflow-bundle.js'), code.split(repoRoot).join('/app/'));
  await writeFile(join(outDir, 'package.json'), '{"type":"module"}\n');
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const out = process.argv[2];
  if (!out) {
    process.stderr.write('usage: tsx src/deploy/build-dist.ts <outDir>\n');
    process.exit(2);
  }
  await buildJavaScript(resolve(out));
}
