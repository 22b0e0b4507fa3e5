#!/usr/bin/env node
// The `assay` command. Runs the TypeScript sources through tsx so that `npx assay` works right after `npm ci`.
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `assay: Node ${process.versions.node} is too old; Assay needs Node 24 LTS. ` +
      'Run it as `npx assay …` inside the project (npm puts the project\'s Node 24 first on PATH).\n',
  );
  process.exit(3);
}
const { register } = await import('tsx/esm/api');
register();
await import('../src/client/cli/main.ts');
