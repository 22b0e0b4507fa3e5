import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type * as StackSetup from './stack-setup.js';

/**
 * Jest global setup of the stack-backed tiers (workflows, integration, e2e); the work is in `stack-setup.ts`.
 *
 * Jest loads this file as CommonJS, outside its module system and its `moduleNameMapper`, so the NodeNext `.js`
 * specifiers of our TypeScript sources would not resolve: they are loaded through tsx, as `npm run stack` does.
 */
export default async function globalSetup(
  _globalConfig: unknown,
  projectConfig: { rootDir: string },
): Promise<void> {
  const setup = (await tsImport(
    './test/support/stack-setup.ts',
    pathToFileURL(join(projectConfig.rootDir, 'package.json')).href,
  )) as typeof StackSetup;
  await setup.setUpStackForTests(projectConfig.rootDir);
}
