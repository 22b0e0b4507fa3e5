import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Connection } from '@temporalio/client';
import { assaySearchAttributes, type SearchAttributeDefinition } from '../../spec/search-attributes.js';
import type { Component, ComponentEnv, ComponentStatus, StackContext, UpOutcome } from '../component.js';
import { StackError } from '../errors.js';
import { ensureGoBinary, type GoBinarySpec } from '../go-build.js';
import { componentDir } from '../paths.js';
import { daemonState, ensureDaemon, httpProbe, stopDaemon, type DaemonRef } from '../process.js';

const execFileAsync = promisify(execFile);

/** The Temporal CLI that provides the dev server (built from its Go module). */
export const temporalCli: GoBinarySpec = {
  name: 'temporal',
  version: '1.5.1',
  pkg: 'github.com/temporalio/cli/cmd/temporal',
};

/** Temporal's IndexedValueType enum numbers, as the gRPC API returns them, in the CLI's spelling. */
const indexedValueTypeNames: Readonly<Record<number, string>> = {
  1: 'Text',
  2: 'Keyword',
  3: 'Int',
  4: 'Double',
  5: 'Bool',
  6: 'Datetime',
  7: 'KeywordList',
};

/**
 * The `Assay*` search attributes could not be registered: one exists with another type (Temporal cannot change a
 * type, so a person has to decide), or the server refused or was unreachable.
 */
export class SearchAttributeRegistrationError extends StackError {
  readonly code = 'SEARCH_ATTRIBUTE_REGISTRATION_FAILED';
  constructor(
    readonly address: string,
    readonly problems: readonly string[],
  ) {
    super(`cannot register the Assay search attributes on ${address}: ${problems.join('; ')}`);
  }
}

/** What a probe of a Temporal server found. */
export type TemporalProbe =
  | { readonly reachable: false; readonly problem: string }
  | {
      readonly reachable: true;
      readonly serverVersion: string;
      readonly missing: readonly SearchAttributeDefinition[];
      /** `Name (is Text, want Keyword)` */
      readonly conflicts: readonly string[];
    };

/**
 * Connects to a Temporal frontend, checks the namespace, and compares its custom search attributes with
 * `assaySearchAttributes`. Never throws.
 */
export async function probeTemporal(
  address: string,
  namespace: string,
  timeoutMs = 3_000,
): Promise<TemporalProbe> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: timeoutMs });
    const conn = connection;
    return await conn.withDeadline(Date.now() + timeoutMs, async () => {
      const info = await conn.workflowService.getSystemInfo({});
      await conn.workflowService.describeNamespace({ namespace });
      const attrs = await conn.operatorService.listSearchAttributes({ namespace });
      const registered = attrs.customAttributes ?? {};
      const missing: SearchAttributeDefinition[] = [];
      const conflicts: string[] = [];
      for (const want of assaySearchAttributes) {
        const have = registered[want.name];
        if (have === undefined || have === null) missing.push(want);
        else if (indexedValueTypeNames[Number(have)] !== want.type) {
          conflicts.push(
            `${want.name} (is ${indexedValueTypeNames[Number(have)] ?? String(have)}, want ${want.type})`,
          );
        }
      }
      return { reachable: true as const, serverVersion: info.serverVersion ?? 'unknown', missing, conflicts };
    });
  } catch (err) {
    return {
      reachable: false,
      problem: err instanceof Error ? (err.message.split('\n')[0] ?? err.message) : String(err),
    };
  } finally {
    await connection?.close().catch(() => undefined);
  }
}

/**
 * The environment of Temporal CLI processes we run: ours without `TEMPORAL_*`, because the CLI reads its client
 * settings from those, and a user's setting for their own server must not redirect our dev server's commands.
 */
function cliEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string | undefined> {
  return Object.fromEntries(Object.entries(env).filter(([k]) => !k.startsWith('TEMPORAL_')));
}

/**
 * The Temporal dev server: SQLite-persisted in the state directory, Web UI on, on loopback, with the `Assay*`
 * search attributes registered. Left alone when the user sets `TEMPORAL_ADDRESS` to their own server.
 */
export class TemporalComponent implements Component {
  readonly name = 'temporal';
  readonly description =
    'Temporal dev server (Temporal CLI, SQLite, Web UI) with the Assay search attributes';

  /** The address of the dev server the stack runs. */
  static address(ctx: StackContext): string {
    return `127.0.0.1:${ctx.config.temporalPort}`;
  }

  /** True when the user points `TEMPORAL_ADDRESS` at a server that is not the stack's. */
  static isExternal(ctx: StackContext): boolean {
    const user = ctx.config.userTemporalAddress;
    if (user === undefined) return false;
    const port = ctx.config.temporalPort;
    return ![`127.0.0.1:${port}`, `localhost:${port}`].includes(user);
  }

  #daemon(ctx: StackContext): DaemonRef {
    return { name: 'temporal', dir: componentDir(ctx.paths, this.name) };
  }

  async up(ctx: StackContext): Promise<UpOutcome> {
    if (TemporalComponent.isExternal(ctx)) {
      ctx.reporter.info(
        `temporal: using your server at ${ctx.config.userTemporalAddress} (TEMPORAL_ADDRESS); not touching it`,
      );
      return 'external';
    }
    const binary = await ensureGoBinary(ctx, temporalCli);
    const dir = componentDir(ctx.paths, this.name);
    await mkdir(dir, { recursive: true });
    const address = TemporalComponent.address(ctx);
    const namespace = ctx.config.temporalNamespace;
    const outcome = await ensureDaemon(ctx, {
      ...this.#daemon(ctx),
      component: this.name,
      command: binary,
      args: [
        'server',
        'start-dev',
        '--db-filename',
        join(dir, 'temporal.db'),
        '--ip',
        '127.0.0.1',
        '--port',
        String(ctx.config.temporalPort),
        '--ui-port',
        String(ctx.config.temporalUiPort),
        '--namespace',
        namespace,
        // Applied by the dev server only when it creates the namespace (a new database); ensureSearchAttributes
        // below covers an existing one.
        ...assaySearchAttributes.flatMap((a) => ['--search-attribute', `${a.name}=${a.type}`]),
      ],
      env: cliEnv(process.env),
      ports: [ctx.config.temporalPort, ctx.config.temporalUiPort],
      ownedExecutableDir: ctx.paths.binDir,
      health: async () => {
        const probe = await probeTemporal(address, namespace);
        return probe.reachable ? true : probe.problem;
      },
    });
    await this.#ensureSearchAttributes(ctx, binary, address, namespace);
    ctx.reporter.info(
      `temporal: ${outcome === 'reused' ? 'already running' : 'running'} at ${address}, ` +
        `Web UI http://127.0.0.1:${ctx.config.temporalUiPort}`,
    );
    return outcome;
  }

  /** Registers missing `Assay*` search attributes, one CLI call per type (the CLI takes one `--type` per call). */
  async #ensureSearchAttributes(
    ctx: StackContext,
    binary: string,
    address: string,
    namespace: string,
  ): Promise<void> {
    const probe = await probeTemporal(address, namespace);
    if (!probe.reachable)
      throw new SearchAttributeRegistrationError(address, [`unreachable: ${probe.problem}`]);
    if (probe.conflicts.length > 0)
      throw new SearchAttributeRegistrationError(
        address,
        probe.conflicts.map((c) => `wrong type: ${c}`),
      );
    if (probe.missing.length === 0) return;
    const byType = Map.groupBy(probe.missing, (a) => a.type);
    for (const [type, attrs] of byType) {
      const names = attrs.map((a) => a.name);
      ctx.reporter.info(`temporal: registering search attributes ${names.join(', ')} (${type})`);
      await execFileAsync(
        binary,
        [
          'operator',
          'search-attribute',
          'create',
          '--address',
          address,
          '--namespace',
          namespace,
          '--type',
          type,
          ...names.flatMap((n) => ['--name', n]),
        ],
        { env: cliEnv(process.env), timeout: 30_000 },
      );
    }
    // The frontend serves the namespace's attributes from a cache refreshed every few seconds: a registration shows
    // in a later probe, not necessarily in the next one.
    let after = await probeTemporal(address, namespace);
    for (
      const deadline = Date.now() + 30_000;
      (!after.reachable || after.missing.length > 0) && Date.now() < deadline;
      after = await probeTemporal(address, namespace)
    ) {
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    if (!after.reachable || after.missing.length > 0) {
      const still = after.reachable ? after.missing.map((a) => a.name) : [after.problem];
      throw new SearchAttributeRegistrationError(
        address,
        still.map((s) => `${s} still missing`),
      );
    }
  }

  async down(ctx: StackContext): Promise<void> {
    if (TemporalComponent.isExternal(ctx)) {
      ctx.reporter.info(`temporal: your server at ${ctx.config.userTemporalAddress} is not ours to stop`);
      return;
    }
    const result = await stopDaemon(ctx, this.#daemon(ctx));
    if (result === 'not-running') ctx.reporter.info('temporal: not running');
  }

  async status(ctx: StackContext): Promise<ComponentStatus> {
    const external = TemporalComponent.isExternal(ctx);
    const address = external ? (ctx.config.userTemporalAddress ?? '') : TemporalComponent.address(ctx);
    const parts: string[] = [];
    let healthy = true;
    if (!external) {
      const { state, record } = await daemonState(this.#daemon(ctx));
      if (state === 'running' && record) parts.push(`pid ${record.pid}`);
      else {
        healthy = false;
        parts.push(state === 'absent' ? 'not started' : `not running (stale pidfile: ${state})`);
      }
    } else {
      parts.push('your server (TEMPORAL_ADDRESS)');
    }
    const probe = await probeTemporal(address, ctx.config.temporalNamespace);
    if (!probe.reachable) {
      healthy = false;
      parts.push(`unreachable: ${probe.problem}`);
    } else {
      parts.push(`server ${probe.serverVersion}`, `namespace ${ctx.config.temporalNamespace}`);
      if (probe.missing.length > 0) {
        healthy = false;
        parts.push(`missing search attributes: ${probe.missing.map((a) => a.name).join(', ')}`);
      } else if (probe.conflicts.length > 0) {
        healthy = false;
        parts.push(`wrong search attribute types: ${probe.conflicts.join(', ')}`);
      } else {
        parts.push(`${assaySearchAttributes.length} Assay search attributes`);
      }
    }
    if (!external) {
      const ui = `http://127.0.0.1:${ctx.config.temporalUiPort}`;
      const uiProbe = await httpProbe(ui);
      if (uiProbe === true) parts.push(`Web UI ${ui}`);
      else {
        healthy = false;
        parts.push(`Web UI down: ${uiProbe}`);
      }
    }
    return { healthy, address, managed: !external, detail: parts.join(', ') };
  }

  env(ctx: StackContext): Promise<ComponentEnv> {
    if (TemporalComponent.isExternal(ctx)) {
      return Promise.resolve({
        vars: {
          TEMPORAL_ADDRESS: ctx.config.userTemporalAddress ?? '',
          TEMPORAL_NAMESPACE: ctx.config.temporalNamespace,
          ...(ctx.config.userTemporalUi ? { ASSAY_TEMPORAL_UI: ctx.config.userTemporalUi } : {}),
        },
      });
    }
    return Promise.resolve({
      vars: {
        TEMPORAL_ADDRESS: TemporalComponent.address(ctx),
        TEMPORAL_NAMESPACE: ctx.config.temporalNamespace,
        ASSAY_TEMPORAL_UI: `http://127.0.0.1:${ctx.config.temporalUiPort}`,
      },
    });
  }
}
