/**
 * Loads the worker configuration once at start-up: an optional YAML/JSON file named by `ASSAY_WORKER_CONFIG`,
 * overlaid with the environment (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `ASSAY_TASK_QUEUE`,
 * `ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS`).
 * Without a file the registry has one cluster, `local` (or `ASSAY_CLUSTER_NAME`), reached through `$KUBECONFIG`.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { workerConfigSchema, type WorkerConfig } from '../spec/worker-config.js';

/** Thrown for an unreadable or invalid configuration; the message names every bad field. */
export class WorkerConfigError extends Error {
  readonly code = 'WORKER_CONFIG_INVALID';
  constructor(
    message: string,
    readonly issues: readonly string[] = [],
    options?: ErrorOptions,
  ) {
    super(issues.length > 0 ? `${message}:\n  ${issues.join('\n  ')}` : message, options);
    this.name = 'WorkerConfigError';
  }
}

const envSchema = z.object({
  ASSAY_WORKER_CONFIG: z.string().min(1).optional(),
  TEMPORAL_ADDRESS: z.string().min(1).optional(),
  TEMPORAL_NAMESPACE: z.string().min(1).optional(),
  KUBECONFIG: z.string().min(1).optional(),
  ASSAY_CLUSTER_NAME: z.string().min(1).optional(),
  ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().int().nonnegative().optional(),
  ASSAY_TASK_QUEUE: z.string().min(1).optional(),
});

type Env = Readonly<Record<string, string | undefined>>;

/**
 * @throws {WorkerConfigError} when the file cannot be read or parsed, or a field is invalid.
 */
export function loadWorkerConfig(
  env: Env = process.env,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): WorkerConfig {
  const clean = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsedEnv = envSchema.safeParse(clean);
  if (!parsedEnv.success) {
    throw new WorkerConfigError(
      'invalid worker environment',
      parsedEnv.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  }
  const e = parsedEnv.data;
  let file: Record<string, unknown> = {};
  if (e.ASSAY_WORKER_CONFIG !== undefined) {
    let text: string;
    try {
      text = readFile(e.ASSAY_WORKER_CONFIG);
    } catch (err) {
      throw new WorkerConfigError(`cannot read worker config ${e.ASSAY_WORKER_CONFIG}`, [], { cause: err });
    }
    try {
      const doc: unknown = parseYaml(text);
      file = typeof doc === 'object' && doc !== null ? (doc as Record<string, unknown>) : {};
    } catch (err) {
      throw new WorkerConfigError(`worker config ${e.ASSAY_WORKER_CONFIG} is not YAML or JSON`, [], {
        cause: err,
      });
    }
  }
  const temporal = { ...((file.temporal as Record<string, unknown> | undefined) ?? {}) };
  if (e.TEMPORAL_ADDRESS !== undefined) temporal.address = e.TEMPORAL_ADDRESS;
  if (e.TEMPORAL_NAMESPACE !== undefined) temporal.namespace = e.TEMPORAL_NAMESPACE;
  const merged = {
    ...file,
    temporal,
    clusters: file.clusters ?? [
      { name: e.ASSAY_CLUSTER_NAME ?? 'local', kubeconfig: { path: e.KUBECONFIG ?? null, context: null } },
    ],
    ...(e.ASSAY_TASK_QUEUE !== undefined ? { taskQueue: e.ASSAY_TASK_QUEUE } : {}),
    ...(e.ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS !== undefined
      ? { shutdownGraceSeconds: e.ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS }
      : {}),
  };
  const parsed = workerConfigSchema.safeParse(merged);
  if (!parsed.success) {
    throw new WorkerConfigError(
      `invalid worker config${e.ASSAY_WORKER_CONFIG !== undefined ? ` (${e.ASSAY_WORKER_CONFIG})` : ''}`,
      parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`),
    );
  }
  const config = parsed.data;
  const unknown = (config.serveClusters ?? []).filter((n) => !config.clusters.some((c) => c.name === n));
  if (unknown.length > 0) {
    throw new WorkerConfigError('invalid worker config', [
      `serveClusters: unknown cluster(s) ${unknown.join(', ')}`,
    ]);
  }
  return config;
}
