import { Command } from 'commander';
import { validateCommand } from './validate.js';

/** Builds the `assay` command tree. Each subcommand lives in its own module. */
export function buildProgram(): Command {
  const program = new Command('assay')
    .description('Run evaluations as Kubernetes Jobs orchestrated by durable Temporal workflows.')
    .showHelpAfterError();
  program.addCommand(validateCommand());
  return program;
}
