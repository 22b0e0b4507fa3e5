// Jest projects, one per test tier (docs/architecture.md, "The tests"). The stack-backed tiers share one local stack per run:
// their global setup brings it up or reuses it.
const transform = {
  '^.+\\.ts$': [
    '@swc/jest',
    { jsc: { parser: { syntax: 'typescript' }, target: 'es2024' }, module: { type: 'es6' } },
  ],
};
const common = {
  transform,
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testEnvironment: 'node',
  // Jest's runner reads only the top-level `testTimeout`, so each project hands its own to `tier-timeout.ts`
  // through `globals`; it bounds every test and every hook (a `beforeAll` that waits for the cluster included)
  // that does not give a longer bound of its own.
  setupFilesAfterEnv: ['<rootDir>/test/support/tier-timeout.ts'],
};

/** A tier: its name, where its tests are, and how long one test or hook may take. */
function tier(displayName, testMatch, testTimeout, extra = {}) {
  return {
    ...common,
    displayName,
    testMatch,
    testTimeout,
    globals: { assayTierTimeoutMs: testTimeout },
    ...extra,
  };
}

const stackBacked = {
  globalSetup: '<rootDir>/test/support/global-setup.ts',
  globalTeardown: '<rootDir>/test/support/global-teardown.ts',
  // Holds the stack lock around each file: a file marked `@assay-stack exclusive` (it stops a shared server, e.g.
  // the S3 outage test) never runs beside another suite. See test/support/stack-environment.ts.
  testEnvironment: '<rootDir>/test/support/stack-environment.ts',
};

export default {
  projects: [
    tier('unit', ['<rootDir>/test/unit/**/*.test.ts'], 15_000),
    tier('workflows', ['<rootDir>/test/workflows/**/*.test.ts'], 120_000, stackBacked),
    tier('integration', ['<rootDir>/test/integration/**/*.test.ts'], 300_000, stackBacked),
    tier('e2e', ['<rootDir>/test/e2e/**/*.test.ts'], 300_000, stackBacked),
  ],
};
