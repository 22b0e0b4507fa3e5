import { z } from 'zod';

/** Environment variables the Jest global setup hands to stack-backed tests. */
export const testEnvNames = {
  /** Path of the workflow bundle built once per run from `test/support/workflows.ts`. */
  workflowBundle: 'ASSAY_TEST_WORKFLOW_BUNDLE',
  /** Comma-separated components the setup started (the teardown stops only those). */
  startedComponents: 'ASSAY_TEST_STACK_STARTED',
  /** Set once the setup ran in this Jest process, so later projects' setups skip it. */
  ready: 'ASSAY_TEST_STACK_READY',
  /**
   * The stack trace store's OTLP endpoint, moved here from `OTEL_EXPORTER_OTLP_ENDPOINT`: the suites that test tracing
   * hand it to the processes they start; every other suite's workers and CLI runs do not trace.
   */
  otlpEndpoint: 'ASSAY_TEST_OTLP_ENDPOINT',
} as const;

const stackTestEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  ASSAY_TEST_WORKFLOW_BUNDLE: z.string().min(1),
});

/** What a stack-backed test needs from the environment. */
export type StackTestEnv = z.infer<typeof stackTestEnvSchema>;

/**
 * Reads the environment the global setup exported.
 *
 * @throws {Error} naming the missing variables when the test runs without the global setup (e.g. a tier without it).
 */
export function stackTestEnv(env: Readonly<Record<string, string | undefined>> = process.env): StackTestEnv {
  const parsed = stackTestEnvSchema.safeParse(env);
  if (!parsed.success) {
    const names = parsed.error.issues.map((i) => i.path.join('.')).join(', ');
    throw new Error(`stack-backed test run without the Jest global setup: ${names} not set`);
  }
  return parsed.data;
}
