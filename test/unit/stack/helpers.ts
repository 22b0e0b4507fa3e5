import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Reporter, StackContext } from '../../../src/stack/component.js';
import { loadStackConfig } from '../../../src/stack/config.js';
import { stackPaths } from '../../../src/stack/paths.js';

/** A stack context on a fresh temporary cache root, with a reporter that records lines instead of printing them. */
export async function tempStackContext(env: Record<string, string> = {}): Promise<{
  ctx: StackContext;
  lines: string[];
  root: string;
}> {
  const root = await mkdtemp(join(tmpdir(), 'assay-stack-test-'));
  const lines: string[] = [];
  const reporter: Reporter = {
    info: (line) => lines.push(line),
    warn: (line) => lines.push(`warning: ${line}`),
  };
  const config = loadStackConfig({ ASSAY_CACHE_DIR: root, ...env });
  return { ctx: { config, paths: stackPaths(root), reporter }, lines, root };
}
