import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { Component, ComponentEnv, ComponentStatus, StackContext, UpOutcome } from '../component.js';
import type { StackConfig } from '../config.js';
import { ensureGoBinary, hashFiles, type GoBinarySpec } from '../go-build.js';
import { componentDir } from '../paths.js';
import { daemonState, ensureDaemon, httpProbe, stopDaemon, type DaemonRef } from '../process.js';

/** The Jaeger module version the trace store is built from (v1.76.0 of the module is Jaeger v2's `cmd/jaeger`). */
export const JAEGER_VERSION = '1.76.0';
const jaegerPkg = 'github.com/jaegertracing/jaeger/cmd/jaeger';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
/**
 * The wrapper module that pins Jaeger and its dependencies (`tool` directive in its go.mod): `go install …@v1.76.0`
 * refuses Jaeger's module, whose go.mod has replace directives.
 */
export const jaegerModule = join(repoRoot, 'deploy/local/jaeger');
/**
 * Assay's own trace viewer (`index.html`, `static/`), which the query extension serves as its UI: the Go module
 * ships no built Jaeger UI (a React app Jaeger's releases build separately with npm), only a placeholder page.
 */
export const traceViewerDir = fileURLToPath(new URL('./ui', import.meta.url));

/** Cache key of the binary: the Jaeger version plus a hash of the wrapper module, so editing it triggers a build. */
export async function jaegerBinaryVersion(): Promise<string> {
  return `${JAEGER_VERSION}-${await hashFiles(['go.mod', 'go.sum'].map((f) => join(jaegerModule, f)))}`;
}

/** The spec of the Jaeger v2 binary (an OpenTelemetry Collector distribution with Jaeger's storage and query). */
export async function jaegerBinary(): Promise<GoBinarySpec> {
  return {
    name: 'jaeger',
    version: await jaegerBinaryVersion(),
    cwd: jaegerModule,
    pkg: jaegerPkg,
    ldflags: `-s -w -X github.com/jaegertracing/jaeger/internal/version.latestVersion=v${JAEGER_VERSION}`,
    env: { CGO_ENABLED: '0' },
  };
}

/** The storage backend's name in the config (the exporter writes to it, the query extension reads from it). */
const storeName = 'memstore';
/** Traces the in-memory store keeps before it drops the oldest. */
export const MAX_TRACES = 100_000;

/**
 * Jaeger's configuration (an OpenTelemetry Collector config): OTLP over gRPC and HTTP in, a bounded in-memory store,
 * the query API and Assay's trace viewer ({@link traceViewerDir}) out; everything on 127.0.0.1. Nothing else is
 * enabled: no Jaeger/Zipkin receivers, no remote sampling, no health-check or pprof extensions, no self-tracing
 * (`enable_tracing: false`, which would export to `localhost:4317`), no internal metrics endpoint (`level: none`,
 * which would serve Prometheus on `:8888`). The query API's gRPC server cannot be turned off; it takes a free port
 * (`:0`), as nothing here uses it.
 */
export function jaegerConfig(
  config: Pick<StackConfig, 'otlpGrpcPort' | 'otlpHttpPort' | 'tracesUiPort'>,
): string {
  const host = '127.0.0.1';
  return stringify({
    service: {
      extensions: ['jaeger_storage', 'jaeger_query'],
      pipelines: {
        traces: {
          receivers: ['otlp'],
          processors: ['batch'],
          exporters: ['jaeger_storage_exporter'],
        },
      },
      telemetry: {
        resource: { 'service.name': 'jaeger' },
        metrics: { level: 'none' },
        logs: { level: 'info' },
      },
    },
    extensions: {
      jaeger_storage: { backends: { [storeName]: { memory: { max_traces: MAX_TRACES } } } },
      jaeger_query: {
        storage: { traces: storeName },
        enable_tracing: false,
        http: { endpoint: `${host}:${config.tracesUiPort}` },
        grpc: { endpoint: `${host}:0` },
        // `/static/…` from the directory, its index.html for every other path outside `/api/` (e.g. `/trace/<id>`).
        ui: { assets_path: traceViewerDir },
      },
    },
    receivers: {
      otlp: {
        protocols: {
          grpc: { endpoint: `${host}:${config.otlpGrpcPort}` },
          http: { endpoint: `${host}:${config.otlpHttpPort}` },
        },
      },
    },
    // Short batches: a span shows in the query API a fraction of a second after it arrives.
    processors: { batch: { timeout: '200ms' } },
    exporters: { jaeger_storage_exporter: { trace_storage: storeName } },
  });
}

/**
 * Answers `true` when the OTLP/HTTP receiver takes an (empty) export request, otherwise what went wrong. A POST is the
 * receiver's only method, so this checks the very path tracers use.
 */
export function otlpHttpProbe(endpoint: string, timeoutMs = 2_000): Promise<true | string> {
  return httpProbe(`${endpoint}/v1/traces`, timeoutMs, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"resourceSpans":[]}',
  });
}

/**
 * The trace store: Jaeger v2 (built from its Go module) with OTLP receivers, in-memory storage and its query API, on
 * loopback. Traces live as long as the process. The Go module ships no built Jaeger UI (Jaeger's releases build it
 * from jaeger-ui with npm), so the UI port serves Assay's own small trace viewer instead (`/trace/<id>`, and `/` to
 * list a service's recent traces; {@link traceViewerDir}); the query API (`/api/…`) is whole.
 */
export class JaegerComponent implements Component {
  readonly name = 'jaeger';
  readonly description =
    'trace store (Jaeger v2: OTLP gRPC/HTTP in, in-memory storage, query API, trace viewer)';

  /** Base URL of the OTLP/HTTP receiver, as `OTEL_EXPORTER_OTLP_ENDPOINT` takes it (`/v1/traces` is appended). */
  static otlpEndpoint(ctx: StackContext): string {
    return `http://127.0.0.1:${ctx.config.otlpHttpPort}`;
  }

  /** Base URL of the query API (`/api/traces/<id>`, `/api/services`) and the trace viewer (`/trace/<id>`). */
  static uiUrl(ctx: StackContext): string {
    return `http://127.0.0.1:${ctx.config.tracesUiPort}`;
  }

  #daemon(ctx: StackContext): DaemonRef {
    return { name: 'jaeger', dir: componentDir(ctx.paths, this.name) };
  }

  /** `true` when the query API and the OTLP/HTTP receiver both answer, otherwise what does not. */
  async #health(ctx: StackContext): Promise<true | string> {
    const [query, otlp] = await Promise.all([
      httpProbe(`${JaegerComponent.uiUrl(ctx)}/api/services`),
      otlpHttpProbe(JaegerComponent.otlpEndpoint(ctx)),
    ]);
    if (query === true && otlp === true) return true;
    return [query, otlp].filter((p) => p !== true).join('; ');
  }

  async up(ctx: StackContext): Promise<UpOutcome> {
    const binary = await ensureGoBinary(ctx, await jaegerBinary());
    const dir = componentDir(ctx.paths, this.name);
    await mkdir(dir, { recursive: true });
    const configFile = join(dir, 'config.yaml');
    await writeFile(configFile, jaegerConfig(ctx.config));
    // Without OTEL_*: the collector's own SDK reads them, and a shell that ran `eval "$(stack env)"` points them at
    // this very process.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('OTEL_')));
    const outcome = await ensureDaemon(ctx, {
      ...this.#daemon(ctx),
      component: this.name,
      command: binary,
      args: ['--config', configFile],
      env,
      ports: [ctx.config.otlpGrpcPort, ctx.config.otlpHttpPort, ctx.config.tracesUiPort],
      ownedExecutableDir: ctx.paths.binDir,
      health: () => this.#health(ctx),
    });
    ctx.reporter.info(
      `jaeger: ${outcome === 'reused' ? 'already running' : 'running'}, OTLP ${JaegerComponent.otlpEndpoint(ctx)} ` +
        `(gRPC 127.0.0.1:${ctx.config.otlpGrpcPort}), UI ${JaegerComponent.uiUrl(ctx)}`,
    );
    return outcome;
  }

  async down(ctx: StackContext): Promise<void> {
    const result = await stopDaemon(ctx, this.#daemon(ctx));
    if (result === 'not-running') ctx.reporter.info('jaeger: not running');
  }

  async status(ctx: StackContext): Promise<ComponentStatus> {
    const parts: string[] = [];
    let healthy = true;
    const { state, record } = await daemonState(this.#daemon(ctx));
    if (state === 'running' && record) parts.push(`pid ${record.pid}`);
    else {
      healthy = false;
      parts.push(state === 'absent' ? 'not started' : `not running (stale pidfile: ${state})`);
    }
    const health = await this.#health(ctx);
    if (health === true) {
      parts.push(`OTLP gRPC 127.0.0.1:${ctx.config.otlpGrpcPort}`, `UI ${JaegerComponent.uiUrl(ctx)}`);
    } else {
      healthy = false;
      parts.push(health);
    }
    return { healthy, managed: true, address: JaegerComponent.otlpEndpoint(ctx), detail: parts.join(', ') };
  }

  env(ctx: StackContext): Promise<ComponentEnv> {
    return Promise.resolve({
      vars: {
        OTEL_EXPORTER_OTLP_ENDPOINT: JaegerComponent.otlpEndpoint(ctx),
        ASSAY_TRACES_UI: JaegerComponent.uiUrl(ctx),
      },
    });
  }
}
