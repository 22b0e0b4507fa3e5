import { Command, Option } from 'commander';
import { stackComponents } from './components.js';
import { renderExports } from './env.js';
import { StackConfigError, StackError, UnknownComponentError } from './errors.js';
import { runKubectl } from './kube/kubectl.js';
import { createStackContext, stackDown, stackEnv, stackStatus, stackUp } from './stack.js';

interface ClustersOpts {
  readonly clusters?: string;
}

/** `--clusters local,b`: which clusters of the stack to act on (src/stack/kube/layout.ts, `STACK_CLUSTERS`). */
function clustersOption(help: string): Option {
  return new Option('--clusters <names>', `comma-separated clusters: ${help}`);
}

function clusters(opts: ClustersOpts): { clusters?: string[] } {
  if (opts.clusters === undefined) return {};
  return {
    clusters: opts.clusters
      .split(',')
      .map((c) => c.trim())
      .filter((c) => c !== ''),
  };
}

/**
 * `npm run stack -- up|down|status|env [component…]`: the local stack (Temporal dev server, S3, …) on loopback.
 * Progress goes to stderr; stdout carries only what a script reads (`env` exports, `status --json`).
 */
function buildProgram(signal: AbortSignal): Command {
  const componentList = stackComponents()
    .map((c) => `  ${c.name.padEnd(10)} ${c.description}`)
    .join('\n');
  const program = new Command('stack')
    .description(
      'The local Assay stack: build (once, cached under ~/.cache/assay), start, check and stop it.',
    )
    .addHelpText('after', `\nComponents, in start order:\n${componentList}\n`)
    .showHelpAfterError();

  program
    .command('up')
    .description('build what is missing, start what is not running, reuse what is')
    .argument('[components...]', 'only these components (default: all, or ASSAY_STACK_COMPONENTS)')
    .addOption(clustersOption('`local` (the whole stack, the default) and/or `b` (a second cluster)'))
    .action(async (components: string[], opts: ClustersOpts) => {
      const result = await stackUp({ components, signal, ...clusters(opts) });
      const summary = Object.entries(result.outcomes)
        .map(([name, outcome]) => `${name} ${outcome}`)
        .join(', ');
      process.stderr.write(
        `[stack] up in ${(result.durationMs / 1000).toFixed(1)} s: ${summary}\n` +
          `[stack] use it from a shell with: eval "$(npm run --silent stack -- env${opts.clusters !== undefined ? ` --clusters ${opts.clusters}` : ''})"\n`,
      );
    });

  program
    .command('down')
    .description('stop exactly what `up` started (by pidfile); your own servers are left alone')
    .argument('[components...]', 'only these components')
    .addOption(clustersOption('`b` stops only cluster b (default: everything, b included when it runs)'))
    .action(async (components: string[], opts: ClustersOpts) => {
      await stackDown({ components, signal, ...clusters(opts) });
    });

  program
    .command('status')
    .description('say what runs, where, and whether it is healthy; exits 0 only when everything is')
    .argument('[components...]', 'only these components')
    .option('--json', 'print the report as JSON on stdout')
    .addOption(clustersOption('default: local, and b when it runs'))
    .action(async (components: string[], opts: { json?: boolean } & ClustersOpts) => {
      const report = await stackStatus({ components, signal, ...clusters(opts) });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      } else {
        for (const c of report.components) {
          const where = c.address ?? '-';
          process.stdout.write(
            `${c.name.padEnd(10)} ${(c.healthy ? 'healthy' : 'UNHEALTHY').padEnd(10)} ${where.padEnd(24)} ${c.detail}\n`,
          );
        }
      }
      process.exitCode = report.healthy ? 0 : 1;
    });

  program
    .command('kubectl')
    .description('run kubectl against the local cluster, e.g. `npm run stack -- kubectl get pods -A`')
    .argument('[args...]', 'kubectl arguments');

  program
    .command('env')
    .description('print `export` lines for a shell: eval "$(npm run --silent stack -- env)"')
    .argument('[components...]', 'only these components')
    .addOption(
      clustersOption('with b: also ASSAY_WORKER_CONFIG, a generated worker config registering local and b'),
    )
    .action(async (components: string[], opts: ClustersOpts) => {
      process.stdout.write(renderExports(await stackEnv({ components, signal, ...clusters(opts) })));
    });

  return program;
}

async function main(): Promise<void> {
  const controller = new AbortController();
  // The first Ctrl-C asks the current step to stop (a build is killed, nothing half-written stays); a second one
  // exits at once.
  process.once('SIGINT', () => {
    process.stderr.write('[stack] interrupted; stopping (press Ctrl-C again to exit at once)\n');
    controller.abort();
    process.once('SIGINT', () => process.exit(130));
  });
  // `stack kubectl …` hands every argument to kubectl untouched, so it bypasses commander's option parsing.
  if (process.argv[2] === 'kubectl') {
    process.exitCode = await runKubectl(createStackContext(), process.argv.slice(3));
    return;
  }
  await buildProgram(controller.signal).parseAsync(process.argv);
}

main().catch((err: unknown) => {
  if (err instanceof AggregateError) {
    for (const e of err.errors)
      process.stderr.write(`stack: ${e instanceof Error ? e.message : String(e)}\n`);
  } else {
    process.stderr.write(`stack: ${err instanceof Error ? err.message : String(err)}\n`);
    if (!(err instanceof StackError) && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
  }
  // 2 for invalid input, as the assay CLI does; 1 for a stack that could not be brought up.
  process.exit(err instanceof StackConfigError || err instanceof UnknownComponentError ? 2 : 1);
});
