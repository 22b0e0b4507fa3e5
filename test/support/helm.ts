/**
 * Helm for the chart tests: the binary built from its Go module and cached (`src/deploy/tools.ts`), `helm template`
 * parsed into objects, and a runner that throws with Helm's output when it fails.
 */
import { writeFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { z } from 'zod';
import { ensureHelm } from '../../src/deploy/tools.js';
import { run, type RunResult } from '../../src/stack/images/exec.js';
import { createStackContext } from '../../src/stack/stack.js';

export const chartDir = join(process.cwd(), 'deploy/helm/assay');

let helmPath: Promise<string> | undefined;

/** The cached helm binary, built on first use (minutes on a fresh machine). */
export function helmBinary(): Promise<string> {
  helmPath ??= ensureHelm(createStackContext());
  return helmPath;
}

/** Runs helm; throws with its output on a non-zero exit unless `allowFailure`. */
export async function helm(
  args: readonly string[],
  options: { allowFailure?: boolean; timeoutMs?: number; env?: Record<string, string | undefined> } = {},
): Promise<RunResult> {
  return run(await helmBinary(), args, {
    timeoutMs: options.timeoutMs ?? 120_000,
    ...(options.allowFailure ? { allowFailure: true } : {}),
    ...(options.env ? { env: options.env } : {}),
  });
}

const objectSchema = z
  .object({
    apiVersion: z.string(),
    kind: z.string(),
    metadata: z.object({ name: z.string(), namespace: z.string().optional() }).loose(),
  })
  .loose();
export type KubeObject = z.infer<typeof objectSchema> & Record<string, unknown>;

/** Parses a multi-document YAML stream into Kubernetes objects (empty documents skipped). */
export function parseObjects(text: string): KubeObject[] {
  return parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((o) => o !== null && o !== undefined)
    .map((o) => objectSchema.parse(o) as KubeObject);
}

/** `helm template` of the chart with `values` (a values file) and extra arguments; the rendered objects. */
export async function renderChart(
  values: Record<string, unknown> = {},
  extraArgs: readonly string[] = [],
): Promise<KubeObject[]> {
  const dir = await mkdtemp(join(tmpdir(), 'assay-chart-'));
  try {
    const file = join(dir, 'values.json');
    await writeFile(file, JSON.stringify(values));
    const { stdout } = await helm([
      'template',
      'assay',
      chartDir,
      '--namespace',
      'assay-system',
      '-f',
      file,
      ...extraArgs,
    ]);
    return parseObjects(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The one object of a kind and name. @throws when there is none or more. */
export function find(objects: readonly KubeObject[], kind: string, name: string): KubeObject {
  const found = objects.filter((o) => o.kind === kind && o.metadata.name === name);
  if (found.length !== 1) throw new Error(`${found.length} ${kind} named ${name} rendered`);
  return found[0] as KubeObject;
}
