/**
 * The entry point of the workflow bundle that Jest's global setup builds once per run (ASSAY_TEST_WORKFLOW_BUNDLE).
 * Every workflow a stack-backed test runs on a real worker must be exported from here.
 */
export * from '../integration/fixtures/foundation-workflows.js';
export * from '../../src/workflows/index.js';
