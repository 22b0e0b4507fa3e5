/**
 * `assay controller`: runs the EvaluationJob controller with leader election until SIGINT or SIGTERM
 * (docs/kubernetes.md, "The controller"). Exit 2 for an invalid flag.
 */
import { Command } from 'commander';
import {
  ControllerConfigError,
  loadControllerConfig,
  startController,
  type ControllerFlags,
} from '../../controller/main.js';
import { createWorkerMetrics } from '../../workers/metrics.js';
import { exitCodes } from './exit-codes.js';

type ControllerCliOptions = ControllerFlags & { metricsPort?: string };

export function controllerCommand(): Command {
  return new Command('controller')
    .description(
      'Run the EvaluationJob controller: start the evaluation of each resource, write its status, cancel it on ' +
        'delete. Replicas elect a leader on a Lease; only the leader acts.',
    )
    .option('--task-queue <queue>', 'workflow task queue (ASSAY_TASK_QUEUE; default assay)')
    .option('--selector <labels>', 'only resources matching this label selector (ASSAY_CONTROLLER_SELECTOR)')
    .option('--lease-name <name>', 'the Lease (ASSAY_CONTROLLER_LEASE; default assay-controller)')
    .option(
      '--lease-namespace <ns>',
      'its namespace (ASSAY_CONTROLLER_LEASE_NAMESPACE, else POD_NAMESPACE, else default)',
    )
    .option('--identity <id>', 'this replica in the Lease (default <host>-<pid>)')
    .option('--poll-interval <seconds>', 'status query interval per running evaluation (default 5)')
    .option('--resync <seconds>', 'reconcile every resource again this often (default 300)')
    .option('--metrics-port <port>', 'serve Prometheus metrics on this port (127.0.0.1)')
    .action(async (options: ControllerCliOptions) => {
      let config;
      try {
        config = loadControllerConfig(options);
      } catch (err) {
        process.stderr.write(`assay controller: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode =
          err instanceof ControllerConfigError ? exitCodes.invalidInput : exitCodes.infrastructure;
        return;
      }
      const metrics = options.metricsPort !== undefined ? createWorkerMetrics() : null;
      if (metrics !== null) await metrics.serve(Number(options.metricsPort), '127.0.0.1');
      const running = startController({
        config,
        ...(metrics !== null ? { registry: metrics.registry } : {}),
      });
      await new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void running
            .stop()
            .catch(() => undefined)
            .then(() => metrics?.close())
            .finally(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}
