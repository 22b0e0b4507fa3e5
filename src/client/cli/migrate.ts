/**
 * `assay migrate docker-run -- docker run [OPTIONS] IMAGE [CMD...]` and `assay migrate compose FILE [--service S]`:
 * print the EvaluationJob manifest a team's `docker run` line or Compose service becomes (docs/migration.md). What
 * cannot be carried over is printed on stderr as `warning: <option>: <reason>`; the manifest is checked with the same
 * schema `assay run` uses before it is printed. Exit 0 (with or without warnings), 2 when no manifest can be made.
 */
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { formatSpecIssue, parseEvaluationJob } from '../../spec/index.js';
import { ComposeParseError, readComposeService } from '../../migrate/compose.js';
import { dnsName, toManifest, type ContainerOptions } from '../../migrate/container-options.js';
import { DockerRunParseError, readDockerRun } from '../../migrate/docker-run.js';
import { exitCodes } from './exit-codes.js';

interface MigrateOptions {
  team: string;
  user: string;
  output: 'yaml' | 'json';
}

/** Where the command writes; the process streams unless a test says otherwise. */
export interface MigrateIo {
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly readFile: (path: string) => string;
}

const processIo: MigrateIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  readFile: (path) => readFileSync(path, 'utf8'),
};

/**
 * Prints the manifest for already-read options. Returns the exit code: 0, or 2 when the options name no image or the
 * manifest they make is not valid.
 */
export function printManifest(container: ContainerOptions, options: MigrateOptions, io: MigrateIo): number {
  for (const w of container.warnings) io.stderr.write(`warning: ${w.option}: ${w.reason}\n`);
  const manifest = toManifest(container, { team: options.team, user: options.user });
  if (manifest === null) {
    io.stderr.write('assay: no image to run\n');
    return exitCodes.invalidInput;
  }
  const checked = parseEvaluationJob(manifest);
  if (!checked.ok) {
    io.stderr.write('assay: the converted manifest is not valid:\n');
    for (const issue of checked.issues) io.stderr.write(`  ${formatSpecIssue(issue)}\n`);
    return exitCodes.invalidInput;
  }
  io.stdout.write(
    options.output === 'json'
      ? `${JSON.stringify(manifest, null, 2)}\n`
      : stringify(manifest, { lineWidth: 0 }),
  );
  return exitCodes.succeeded;
}

function failure(io: MigrateIo, err: unknown): number {
  if (err instanceof DockerRunParseError || err instanceof ComposeParseError) {
    io.stderr.write(`assay: ${err.message}\n`);
    return exitCodes.invalidInput;
  }
  if (err instanceof Error && 'code' in err && 'path' in err && typeof err.path === 'string') {
    io.stderr.write(`assay: cannot read ${err.path}: ${err.message}\n`);
    return exitCodes.invalidInput;
  }
  throw err;
}

function ownerOptions(command: Command, io: MigrateIo): Command {
  const user = dnsName(io.env.USER ?? '') ?? 'unknown';
  return command
    .addOption(
      new Option('--team <team>', 'team the evaluation belongs to').default(io.env.ASSAY_TEAM ?? 'default'),
    )
    .addOption(new Option('--user <user>', 'user who runs it').default(user))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .exitOverride((err) => {
      process.exit(err.exitCode === 0 ? 0 : exitCodes.invalidInput);
    });
}

/** The `migrate` subcommand, for `program.addCommand(migrateCommand())`. */
export function migrateCommand(io: MigrateIo = processIo): Command {
  const dockerRun = ownerOptions(
    new Command('docker-run')
      .description('Print the EvaluationJob for a `docker run` command line (after `--`).')
      .argument(
        '<docker-run...>',
        'the command line, after `--`: docker run [OPTIONS] IMAGE [COMMAND] [ARG...]',
      ),
    io,
  ).action((argv: string[], options: MigrateOptions) => {
    try {
      const container = readDockerRun(argv, { readFile: io.readFile, hostEnv: io.env });
      process.exitCode = printManifest(container, options, io);
    } catch (err) {
      process.exitCode = failure(io, err);
    }
  });
  const compose = ownerOptions(
    new Command('compose')
      .description('Print the EvaluationJob for a service of a Compose file.')
      .argument('<file>', 'the Compose file')
      .option('--service <name>', 'the service (needed when the file has more than one)'),
    io,
  ).action((file: string, options: MigrateOptions & { service?: string }) => {
    try {
      const container = readComposeService(io.readFile(file), options.service ?? null, {
        readFile: io.readFile,
        hostEnv: io.env,
      });
      process.exitCode = printManifest(container, options, io);
    } catch (err) {
      process.exitCode = failure(io, err);
    }
  });
  return new Command('migrate')
    .description('Convert Docker workloads into EvaluationJob manifests.')
    .addCommand(dockerRun)
    .addCommand(compose);
}
