import { access, readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { stackComponents } from '../../../src/stack/components.js';
import { loadStackConfig } from '../../../src/stack/config.js';
import {
  JAEGER_VERSION,
  JaegerComponent,
  jaegerBinary,
  jaegerConfig,
  jaegerModule,
  MAX_TRACES,
  otlpHttpProbe,
  traceViewerDir,
} from '../../../src/stack/jaeger/component.js';
import { tempStackContext } from './helpers.js';

/** Every `endpoint` value anywhere in a parsed config. */
function endpoints(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(endpoints);
  if (node === null || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === 'endpoint' && typeof value === 'string' ? [value] : endpoints(value),
  );
}

/** The parts of the generated config these tests read. */
interface JaegerYaml {
  readonly service: {
    readonly extensions: string[];
    readonly pipelines: unknown;
    readonly telemetry: { readonly metrics: unknown };
  };
  readonly extensions: {
    readonly jaeger_storage: { readonly backends: Record<string, unknown> };
    readonly jaeger_query: {
      readonly storage: unknown;
      readonly http: unknown;
      readonly enable_tracing: unknown;
      readonly ui: { readonly assets_path: string };
    };
  };
  readonly receivers: unknown;
  readonly exporters: { readonly jaeger_storage_exporter: { readonly trace_storage: string } };
}

describe('the trace store configuration', () => {
  const defaults = loadStackConfig({});
  const config = parse(jaegerConfig(defaults)) as JaegerYaml;

  it('has ports of its own, apart from the other components’ defaults', () => {
    expect([defaults.otlpGrpcPort, defaults.otlpHttpPort, defaults.tracesUiPort]).toEqual([
      14317, 14318, 16686,
    ]);
    const all = [
      defaults.temporalPort,
      defaults.temporalUiPort,
      defaults.s3Port,
      defaults.otlpGrpcPort,
      defaults.otlpHttpPort,
      defaults.tracesUiPort,
    ];
    expect(new Set(all).size).toBe(all.length);
    expect(loadStackConfig({ ASSAY_STACK_TRACES_UI_PORT: '26686' }).tracesUiPort).toBe(26686);
    expect(() => loadStackConfig({ ASSAY_STACK_OTLP_HTTP_PORT: 'x' })).toThrow(/ASSAY_STACK_OTLP_HTTP_PORT/);
  });

  it('receives OTLP over gRPC and HTTP into a bounded in-memory store that the query extension reads', () => {
    expect(config.receivers).toEqual({
      otlp: { protocols: { grpc: { endpoint: '127.0.0.1:14317' }, http: { endpoint: '127.0.0.1:14318' } } },
    });
    expect(config.service.pipelines).toEqual({
      traces: { receivers: ['otlp'], processors: ['batch'], exporters: ['jaeger_storage_exporter'] },
    });
    const store = config.exporters.jaeger_storage_exporter.trace_storage;
    expect(config.extensions.jaeger_storage.backends[store]).toEqual({ memory: { max_traces: MAX_TRACES } });
    expect(MAX_TRACES).toBe(100_000);
    expect(config.extensions.jaeger_query.storage).toEqual({ traces: store });
    expect(config.extensions.jaeger_query.http).toEqual({ endpoint: '127.0.0.1:16686' });
  });

  it('listens on loopback only and enables nothing that sends or serves anything else', () => {
    expect(endpoints(config).sort()).toEqual([
      '127.0.0.1:0',
      '127.0.0.1:14317',
      '127.0.0.1:14318',
      '127.0.0.1:16686',
    ]);
    expect(config.service.extensions).toEqual(['jaeger_storage', 'jaeger_query']);
    expect(config.extensions.jaeger_query.enable_tracing).toBe(false);
    expect(config.service.telemetry.metrics).toEqual({ level: 'none' });
  });

  it('serves Assay’s trace viewer from src/stack/jaeger/ui as the UI', async () => {
    const dir = config.extensions.jaeger_query.ui.assets_path;
    expect(config.extensions.jaeger_query.ui).toEqual({ assets_path: traceViewerDir });
    expect(isAbsolute(dir)).toBe(true);
    expect(dir.replaceAll('\\', '/')).toMatch(/\/src\/stack\/jaeger\/ui$/);
    // Jaeger serves index.html for every path outside /api/ and /static/ (e.g. /trace/<id>), so the page's assets
    // resolve from `<base href="/"`, which Jaeger also rewrites when the query API has a base path.
    const index = await readFile(join(dir, 'index.html'), 'utf8');
    expect(index).toContain('<base href="/"');
    expect(index).toContain('src="static/viewer.js"');
    expect(index).toContain('href="static/viewer.css"');
    await expect(access(join(dir, 'static', 'viewer.js'))).resolves.toBeUndefined();
    await expect(access(join(dir, 'static', 'viewer.css'))).resolves.toBeUndefined();
  });

  it('follows the configured ports', () => {
    const custom = parse(
      jaegerConfig(
        loadStackConfig({
          ASSAY_STACK_OTLP_GRPC_PORT: '24317',
          ASSAY_STACK_OTLP_HTTP_PORT: '24318',
          ASSAY_STACK_TRACES_UI_PORT: '26686',
        }),
      ),
    ) as unknown;
    expect(endpoints(custom).sort()).toEqual([
      '127.0.0.1:0',
      '127.0.0.1:24317',
      '127.0.0.1:24318',
      '127.0.0.1:26686',
    ]);
  });
});

describe('the jaeger component', () => {
  it('starts after S3 and before the cluster', () => {
    const names = stackComponents().map((c) => c.name);
    expect(names.indexOf('jaeger')).toBe(names.indexOf('s3') + 1);
    expect(names.indexOf('jaeger')).toBeLessThan(names.indexOf('kubernetes'));
  });

  it('exports the OTLP endpoint and the query API base URL', async () => {
    const { ctx } = await tempStackContext({
      ASSAY_STACK_OTLP_HTTP_PORT: '24318',
      ASSAY_STACK_TRACES_UI_PORT: '26686',
    });
    expect((await new JaegerComponent().env(ctx)).vars).toEqual({
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:24318',
      ASSAY_TRACES_UI: 'http://127.0.0.1:26686',
    });
  });

  it('is built from the wrapper module, cached by version and module content', async () => {
    const spec = await jaegerBinary();
    expect(spec).toMatchObject({
      name: 'jaeger',
      cwd: jaegerModule,
      pkg: 'github.com/jaegertracing/jaeger/cmd/jaeger',
    });
    expect(spec.version).toMatch(new RegExp(`^${JAEGER_VERSION}-[0-9a-f]{12}$`));
    const goMod = await readFile(join(jaegerModule, 'go.mod'), 'utf8');
    expect(goMod).toMatch(/^tool github\.com\/jaegertracing\/jaeger\/cmd\/jaeger$/m);
    expect(goMod).toContain(`\tgithub.com/jaegertracing/jaeger v${JAEGER_VERSION}`);
  });

  it('reports a store that was never started as unhealthy', async () => {
    const { ctx } = await tempStackContext({
      ASSAY_STACK_OTLP_GRPC_PORT: '1',
      ASSAY_STACK_OTLP_HTTP_PORT: '1',
      ASSAY_STACK_TRACES_UI_PORT: '1',
    });
    const status = await new JaegerComponent().status(ctx);
    expect(status).toMatchObject({ healthy: false, managed: true, address: 'http://127.0.0.1:1' });
    expect(status.detail).toMatch(/^not started, GET http:\/\/127\.0\.0\.1:1\/api\/services failed/);
  });
});

describe('otlpHttpProbe', () => {
  let server: Server;
  let base: string;
  const seen: string[] = [];

  beforeAll(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers['content-type']} ${body}`);
        res.statusCode = req.url === '/ok/v1/traces' ? 200 : 404;
        res.end('{}');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('posts an empty OTLP/JSON export request to /v1/traces', async () => {
    expect(await otlpHttpProbe(`${base}/ok`)).toBe(true);
    expect(seen).toEqual(['POST /ok/v1/traces application/json {"resourceSpans":[]}']);
  });

  it('says what went wrong otherwise', async () => {
    expect(await otlpHttpProbe(`${base}/nope`)).toBe(`POST ${base}/nope/v1/traces answered 404`);
    expect(await otlpHttpProbe('http://127.0.0.1:1')).toMatch(
      /^POST http:\/\/127\.0\.0\.1:1\/v1\/traces failed: /,
    );
  });
});
