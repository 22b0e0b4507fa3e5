/**
 * `assay validate -f FILE`: checks a manifest without running anything, and shows what it means once defaults are
 * filled in and quantities normalised.
 */
import { Command, Option } from 'commander';
import { stringify } from 'yaml';
import { formatSpecIssue, type EvaluationJob, type ParseResult } from '../../spec/index.js';
import { exitCodes } from './exit-codes.js';
import { ManifestFileError, loadEvaluationJobFile, sourceName } from './manifest-file.js';

interface ValidateOptions {
  file: string;
  output: 'yaml' | 'json';
}

/** Where the command writes; the process streams unless a test says otherwise. */
export interface ValidateIo {
  readonly stdin: AsyncIterable<Buffer | string>;
  readonly stdout: { write(text: string): unknown };
  readonly stderr: { write(text: string): unknown };
}

/**
 * Validates one manifest. Prints the normalised manifest to stdout and returns 0, or prints each problem as
 * `path: message` to stderr and returns 2 (`exitCodes.invalidInput`), also when the file is unreadable or not YAML.
 */
export async function runValidate(options: ValidateOptions, io: ValidateIo): Promise<number> {
  let result: ParseResult<EvaluationJob>;
  try {
    result = await loadEvaluationJobFile(options.file, io.stdin);
  } catch (err: unknown) {
    if (err instanceof ManifestFileError) {
      io.stderr.write(`${err.message}\n`);
      return exitCodes.invalidInput;
    }
    throw err;
  }
  if (!result.ok) {
    for (const issue of result.issues) {
      const line =
        issue.path === '' ? `${sourceName(options.file)}: ${issue.message}` : formatSpecIssue(issue);
      io.stderr.write(`${line}\n`);
    }
    return exitCodes.invalidInput;
  }
  io.stdout.write(
    options.output === 'json'
      ? `${JSON.stringify(result.value, null, 2)}\n`
      : stringify(result.value, { lineWidth: 0 }),
  );
  return exitCodes.succeeded;
}

/** The `validate` subcommand, for `program.addCommand(validateCommand())`. */
export function validateCommand(io: ValidateIo = process): Command {
  return (
    new Command('validate')
      .description('Check an EvaluationJob manifest and print it normalised, with every default filled in.')
      .requiredOption('-f, --file <file>', 'manifest file, YAML or JSON ("-" reads stdin)')
      .addOption(
        new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'),
      )
      // A usage mistake is invalid input too: exit 2 as for a bad manifest, not commander's 1.
      .exitOverride((err) => {
        process.exit(err.exitCode === 0 ? 0 : exitCodes.invalidInput);
      })
      .action(async (options: ValidateOptions) => {
        process.exitCode = await runValidate(options, io);
      })
  );
}
