/**
 * `assay admission`: serves the EvaluationJob admission webhooks (validate, mutate, convert) over HTTPS until SIGINT
 * or SIGTERM (docs/kubernetes.md). Exit 2 for an invalid configuration, 3 when it cannot listen.
 */
import { Command } from 'commander';
import { AdmissionConfigError } from '../../admission/config.js';
import { startAdmission } from '../../admission/main.js';
import { exitCodes } from './exit-codes.js';

interface AdmissionOptions {
  config?: string;
  host?: string;
  port?: string;
  tlsCert?: string;
  tlsKey?: string;
}

export function admissionCommand(): Command {
  return new Command('admission')
    .description(
      'Serve the EvaluationJob admission webhooks (validate, mutate, convert) over HTTPS; by default on the local ' +
        "stack's address with its generated certificate.",
    )
    .option('--config <file>', 'YAML/JSON configuration (also ASSAY_ADMISSION_CONFIG)')
    .option('--host <address>', 'address to listen on (ASSAY_ADMISSION_HOST; default 127.0.0.1)')
    .option('--port <port>', 'HTTPS port (ASSAY_ADMISSION_PORT; default 18443)')
    .option('--tls-cert <file>', 'PEM serving certificate (ASSAY_ADMISSION_TLS_CERT)')
    .option('--tls-key <file>', 'PEM private key (ASSAY_ADMISSION_TLS_KEY)')
    .action(async (options: AdmissionOptions) => {
      let running;
      try {
        running = await startAdmission({ flags: options });
      } catch (err) {
        process.stderr.write(`assay admission: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode =
          err instanceof AdmissionConfigError ? exitCodes.invalidInput : exitCodes.infrastructure;
        return;
      }
      const stopped = new Promise<void>((resolve) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          running
            .stop()
            .catch(() => undefined)
            .finally(resolve);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
      await stopped;
    });
}
