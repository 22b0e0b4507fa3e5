/**
 * Loads the worker configuration once at start-up: an optional YAML/JSON file named by `ASSAY_WORKER_CONFIG`,
 * overlaid with the environment (`TEMPORAL_ADDRESS`, `TEMPORAL_NAMESPACE`, `ASSAY_TASK_QUEUE`,
 * `ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS`, `ASSAY_LOG_LEVEL`, `ASSAY_WORKFLOW_BUNDLE`, `ASSAY_RETENTION_SETUP`).
 * Without a file the registry has one cluster, `local` (or `ASSAY_CLUSTER_NAME`), reached through `$KUBECONFIG`, with
 * the local stack's collector image unless `ASSAY_COLLECTOR_IMAGE` / `ASSAY_COLLECTOR_PULL_POLICY` say otherwise, and
 * the sandboxed runtimes `ASSAY_RUNTIME_CLASSES` names (`gvisor=gvisor,kata=kata-qemu`: runtime=RuntimeClass; the
 * local stack's `stack env` exports the ones it offers).
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { envBoolean } from '../spec/env.js';
import {
  imagePullPolicies,
  logLevels,
  workerConfigSchema,
  type CollectorSettings,
  type WorkerConfig,
} from '../spec/worker-config.js';

/**
 * The collector of the default cluster `local`: the image the local stack builds and imports into its node's
 * containerd (`src/stack/images/catalog.ts`). The node has no registry, so it is never pulled.
 */
export const localStackCollector: CollectorSettings = {
  image: 'localhost/assay/collector:1',
  imagePullPolicy: 'Never',
};

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
  ASSAY_LOG_LEVEL: z.enum(logLevels).optional(),
  ASSAY_WORKFLOW_BUNDLE: z.string().min(1).optional(),
  ASSAY_RETENTION_SETUP: envBoolean,
  ASSAY_COLLECTOR_IMAGE: z.string().min(1).optional(),
  ASSAY_COLLECTOR_PULL_POLICY: z.enum(imagePullPolicies).optional(),
  ASSAY_RUNTIME_CLASSES: z
    .string()
    .regex(/^[a-z0-9-]+=[a-z0-9.-]+(,[a-z0-9-]+=[a-z0-9.-]+)*$/, 'must be runtime=RuntimeClass pairs separated by commas')
    .optional(),
});

/** A file section the environment may overlay; anything else is left for the schema to name as invalid. */
function isRecordOrAbsent(value: unknown): value is Record<string, unknown> | undefined {
  return value === undefined || (typeof value === 'object' && value !== null && !Array.isArray(value));
}

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
      {
        name: e.ASSAY_CLUSTER_NAME ?? 'local',
        kubeconfig: { path: e.KUBECONFIG ?? null, context: null },
        collector: {
          image: e.ASSAY_COLLECTOR_IMAGE ?? localStackCollector.image,
          imagePullPolicy:
            e.ASSAY_COLLECTOR_PULL_POLICY ??
            (e.ASSAY_COLLECTOR_IMAGE === undefined ? localStackCollector.imagePullPolicy : 'IfNotPresent'),
        },
        ...(e.ASSAY_RUNTIME_CLASSES !== undefined
          ? {
              security: {
                runtimeClasses: Object.fromEntries(
                  e.ASSAY_RUNTIME_CLASSES.split(',').map((pair): [string, string] => {
                    const [runtime = '', className = ''] = pair.split('=');
                    return [runtime, className];
                  }),
                ),
              },
            }
          : {}),
      },
    ],
    ...(e.ASSAY_TASK_QUEUE !== undefined ? { taskQueue: e.ASSAY_TASK_QUEUE } : {}),
    ...(e.ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS !== undefined
      ? { shutdownGraceSeconds: e.ASSAY_WORKER_SHUTDOWN_GRACE_SECONDS }
      : {}),
    ...(e.ASSAY_LOG_LEVEL !== undefined ? { logLevel: e.ASSAY_LOG_LEVEL } : {}),
    ...(e.ASSAY_WORKFLOW_BUNDLE !== undefined ? { workflowBundle: e.ASSAY_WORKFLOW_BUNDLE } : {}),
    retention:
      e.ASSAY_RETENTION_SETUP !== undefined && isRecordOrAbsent(file.retention)
        ? { ...(file.retention ?? {}), setup: e.ASSAY_RETENTION_SETUP }
        : file.retention,
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
