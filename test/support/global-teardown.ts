import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tsImport } from 'tsx/esm/api';
import type * as StackSetup from './stack-setup.js';

/** Jest global teardown of the stack-backed tiers; see `stack-setup.ts` (and `global-setup.ts` for why tsx). */
export default async function globalTeardown(
  _globalConfig: unknown,
  projectConfig: { rootDir: string },
): Promise<void> {
  const setup = (await tsImport(
    './test/support/stack-setup.ts',
    pathToFileURL(join(projectConfig.rootDir, 'package.json')).href,
  )) as typeof StackSetup;
  await setup.tearDownStackForTests();
}
