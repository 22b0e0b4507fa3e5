import { startTelemetry } from '../../telemetry/sdk.js';
import { buildProgram } from './program.js';
import { exitCodes } from './exit-codes.js';

async function main(): Promise<void> {
  // First, so the client's spans are traced (docs/observability.md); flushed before the process ends.
  const telemetry = startTelemetry({ serviceName: serviceName(process.argv[2]) });
  try {
    const program = buildProgram();
    await program.parseAsync(process.argv);
  } finally {
    await telemetry.shutdown();
  }
}

/** `assay-controller` and `assay-admission` for the long-running commands, `assay-cli` for the rest. */
function serviceName(command: string | undefined): string {
  return command === 'controller' || command === 'admission' ? `assay-${command}` : 'assay-cli';
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`assay: ${message}\n`);
  process.exit(exitCodes.infrastructure);
});
