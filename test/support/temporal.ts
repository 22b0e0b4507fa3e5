import { Client, Connection } from '@temporalio/client';
import {
  DefaultLogger,
  NativeConnection,
  Runtime,
  bundleWorkflowCode,
  type WorkflowBundle,
} from '@temporalio/worker';
import { workflowInterceptorModules } from '../../src/telemetry/temporal.js';

/**
 * Installs the Temporal worker runtime with a logger that keeps warnings and errors only, so a test run is not
 * buried under worker state changes. A runtime is per process and installed once; a second call changes nothing.
 */
export function installQuietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed in this process (by another test file sharing the worker): keep it.
  }
}

/** What a workflow-tier suite talks to: a client and a worker connection to the stack's Temporal, and its bundle. */
export interface WorkflowTier {
  client: Client;
  workerConnection: NativeConnection;
  bundle: WorkflowBundle;
  close(): Promise<void>;
}

/**
 * Connects a workflow-tier suite to the stack's Temporal (quiet runtime, client and worker connections) and bundles
 * its workflows: `workflowsPath` (a stub bundle of the suite's own) or `load` (e.g. the bundle the global setup built).
 */
export async function connectWorkflowTier(
  workflows: { workflowsPath: string } | { load: () => Promise<WorkflowBundle> },
): Promise<WorkflowTier> {
  installQuietTemporalRuntime();
  const address = process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233';
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  const workerConnection = await NativeConnection.connect({ address });
  const bundle =
    'load' in workflows
      ? await workflows.load()
      : await bundleWorkflowCode({
          workflowsPath: workflows.workflowsPath,
          workflowInterceptorModules: [...workflowInterceptorModules],
          logger: { log() {}, trace() {}, debug() {}, info() {}, warn() {}, error() {} },
        });
  return {
    client,
    workerConnection,
    bundle,
    async close() {
      await connection.close();
      await workerConnection.close().catch(() => undefined);
    },
  };
}
