import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { workflowInterceptorModules } from '../../src/telemetry/temporal.js';
import { applyStackEnv, envBoolean, stackDown, stackUp } from '../../src/stack/index.js';
import { testEnvNames } from './test-env.js';

/**
 * Brings the local stack up — or reuses the one that runs — exports its environment into `process.env` for the tests
 * (Jest's workers inherit it), and bundles the test workflows once for the whole run.
 *
 * Jest calls the global setup once per stack-backed project in the same process, so every call after the first
 * returns at once.
 */
export async function setUpStackForTests(rootDir: string): Promise<void> {
  if (process.env[testEnvNames.ready] === '1') return;
  const started = Date.now();
  process.stderr.write('\n');
  const result = await stackUp();
  applyStackEnv(result.env);
  // Tracing is opted into by the suites that test it (test/integration/tracing.test.ts), so the others run as before
  // and no suite's timing depends on span export.
  const otlp = process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  delete process.env.OTEL_EXPORTER_OTLP_ENDPOINT;
  if (otlp !== undefined && otlp !== '') process.env[testEnvNames.otlpEndpoint] = otlp;
  process.env[testEnvNames.startedComponents] = result.started.join(',');

  const outDir = join(rootDir, 'test-results');
  await mkdir(outDir, { recursive: true });
  // Per process, so two Jest runs at once (e.g. two checkouts) do not overwrite each other's bundle.
  const bundlePath = join(outDir, `workflow-bundle-${process.pid}.js`);
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(rootDir, 'test', 'support', 'workflows.ts'),
    workflowInterceptorModules: [...workflowInterceptorModules],
    logger: new DefaultLogger('WARN'),
  });
  await writeFile(bundlePath, code);
  process.env[testEnvNames.workflowBundle] = bundlePath;
  process.env[testEnvNames.ready] = '1';

  const outcomes = Object.entries(result.outcomes)
    .map(([name, outcome]) => `${name} ${outcome}`)
    .join(', ');
  process.stderr.write(
    `[test setup] stack ready (${outcomes}), workflow bundle ${bundlePath}, ` +
      `${((Date.now() - started) / 1000).toFixed(1)} s\n`,
  );
}

/**
 * Stops the components that {@link setUpStackForTests} started — only those — unless `ASSAY_KEEP_STACK=1`; a stack
 * that ran before the tests keeps running. Every call after the first returns at once.
 */
export async function tearDownStackForTests(): Promise<void> {
  if (process.env[testEnvNames.ready] !== '1') return;
  delete process.env[testEnvNames.ready];

  const bundle = process.env[testEnvNames.workflowBundle];
  if (bundle) await rm(bundle, { force: true });

  const keep = envBoolean.parse(process.env.ASSAY_KEEP_STACK) === true;
  const started = (process.env[testEnvNames.startedComponents] ?? '').split(',').filter((c) => c !== '');
  if (started.length === 0) {
    process.stderr.write('[test teardown] leaving the stack running: it was running before the tests\n');
  } else if (keep) {
    process.stderr.write(`[test teardown] leaving ${started.join(', ')} running (ASSAY_KEEP_STACK=1)\n`);
  } else {
    process.stderr.write(`[test teardown] stopping ${started.join(', ')}, started by the test setup\n`);
    await stackDown({ components: started });
  }
}
