import { Command } from 'commander';
import { admissionCommand } from './admission.js';
import { artifactsCommand } from './artifacts.js';
import { batchCommand } from './batch.js';
import { cancelCommand } from './cancel.js';
import { clustersCommand } from './clusters.js';
import { controllerCommand } from './controller.js';
import { listCommand } from './list.js';
import { logsCommand } from './logs.js';
import { migrateCommand } from './migrate.js';
import { quotaCommand } from './quota.js';
import { notificationsCommand } from './notifications.js';
import { reportCommand } from './report.js';
import { resultCommand } from './result.js';
import { runCommand } from './run.js';
import { scheduleCommand } from './schedule.js';
import { statusCommand } from './status.js';
import { validateCommand } from './validate.js';

/** Builds the `assay` command tree. Each subcommand lives in its own module. */
export function buildProgram(): Command {
  const program = new Command('assay')
    .description('Run evaluations as Kubernetes Jobs orchestrated by durable Temporal workflows.')
    .showHelpAfterError();
  program.addCommand(validateCommand());
  program.addCommand(runCommand());
  program.addCommand(statusCommand());
  program.addCommand(resultCommand());
  program.addCommand(cancelCommand());
  program.addCommand(listCommand());
  program.addCommand(clustersCommand());
  program.addCommand(logsCommand());
  program.addCommand(artifactsCommand());
  program.addCommand(migrateCommand());
  program.addCommand(quotaCommand());
  program.addCommand(notificationsCommand());
  program.addCommand(reportCommand());
  program.addCommand(batchCommand());
  program.addCommand(scheduleCommand());
  program.addCommand(admissionCommand());
  program.addCommand(controllerCommand());
  return program;
}
