/**
 * `npm run worker`: the Assay worker process. Reads its configuration (file + environment) and the object-store
 * environment, connects to Temporal, bundles the workflows once and serves the `assay` queue and each cluster's
 * queue. SIGTERM/SIGINT shut it down gracefully: polling stops, in-flight activities get the grace time.
 */
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime } from '@temporalio/worker';
import { applyLifecycleRules } from '../retention/lifecycle.js';
import { ensureRetentionSchedule } from '../retention/schedule.js';
import { workflowTaskQueue } from '../spec/names.js';
import { createS3ObjectStore, loadS3Config } from '../storage/index.js';
import { loadWorkerConfig } from './config.js';
import { loadWorkflowBundle, startWorkers } from './run.js';

function say(message: string): void {
  process.stderr.write(`assay worker: ${message}\n`);
}

async function main(): Promise<void> {
  const config = loadWorkerConfig();
  const store = createS3ObjectStore(loadS3Config());
  // Runtime.install registers SIGINT/SIGTERM: each shuts every worker down, honouring shutdownGraceTime.
  Runtime.install({ shutdownSignals: ['SIGINT', 'SIGTERM'] });
  let connection: NativeConnection;
  try {
    connection = await NativeConnection.connect({ address: config.temporal.address });
  } catch (err) {
    throw new Error(
      `cannot reach Temporal at ${config.temporal.address} (set TEMPORAL_ADDRESS, or run \`npm run stack -- up\`): ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
  try {
    await store.exists('evaluations/.probe');
  } catch (err) {
    throw new Error(
      `cannot reach the object store (ASSAY_S3_*): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  const bundle = await loadWorkflowBundle(process.env.ASSAY_WORKFLOW_BUNDLE);
  const running = await startWorkers(config, { connection, store, bundle });
  // The retention sweep's schedule belongs to the production queue; isolated (test) queues opt in explicitly.
  if (
    config.serveWorkflows &&
    (config.taskQueue === workflowTaskQueue || process.env.ASSAY_RETENTION_SCHEDULE === '1')
  ) {
    try {
      const scheduling = await Connection.connect({ address: config.temporal.address });
      try {
        const client = new Client({ connection: scheduling, namespace: config.temporal.namespace });
        if (await ensureRetentionSchedule(client, { taskQueue: config.taskQueue })) {
          say('created the retention sweep schedule');
        }
      } finally {
        await scheduling.close();
      }
    } catch (err) {
      say(`cannot create the retention sweep schedule: ${err instanceof Error ? err.message : String(err)}`);
    }
    try {
      const lifecycle = await applyLifecycleRules(loadS3Config());
      say(
        lifecycle === 'applied'
          ? 'bucket lifecycle rules applied (backstops; retention itself is swept)'
          : 'the object store has no lifecycle rules: retention relies on the scheduled sweep',
      );
    } catch (err) {
      say(`cannot apply bucket lifecycle rules: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  say(
    `serving ${running.taskQueues.join(', ')} on ${config.temporal.address} (namespace ${config.temporal.namespace}); pid ${process.pid}`,
  );
  try {
    await running.done;
  } finally {
    await connection.close();
  }
  say('stopped');
}

main().catch((err: unknown) => {
  say(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
