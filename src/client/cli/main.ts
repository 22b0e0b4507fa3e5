import { buildProgram } from './program.js';
import { exitCodes } from './exit-codes.js';

async function main(): Promise<void> {
  const program = buildProgram();
  await program.parseAsync(process.argv);
}

main().catch((err: unknown) => {
  const message = err instanceof Error ? err.message : String(err);
  process.stderr.write(`assay: ${message}\n`);
  process.exit(exitCodes.infrastructure);
});
