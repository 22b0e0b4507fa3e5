import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { pythonOtelImage } from '../../../src/stack/images/catalog.js';
import { imageRef } from '../../../src/stack/images/local-images.js';
import { parseEvaluationJob } from '../../../src/spec/index.js';

// examples/traced: the script that continues the caller's trace, and the evaluation that inlines it. The script runs
// with the host's python3 when OpenTelemetry's SDK is importable there (the pins of the python-otel image:
// `pip install` them); elsewhere those cases are skipped, and the image itself is tried on the cluster.

const dir = fileURLToPath(new URL('../../../examples/traced/', import.meta.url));
const script = readFileSync(join(dir, 'traced.py'), 'utf8');

const PARENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const PARENT_SPAN = 'b7ad6b7169203331';
const LINE = /^trace_id=([0-9a-f]{32}) span_id=([0-9a-f]{16}) sampled=(true|false)$/;

const probe = spawnSync('python3', ['-c', 'import opentelemetry.sdk'], { encoding: 'utf8', timeout: 60_000 });
const skipReason =
  probe.status === 0
    ? undefined
    : `host python3 cannot import opentelemetry.sdk (${(probe.stderr || probe.error?.message || '').trim().split('\n').pop()}); ` +
      'pip install the pins of pythonOtelImage (src/stack/images/catalog.ts) to run these cases';
if (skipReason) console.warn(`examples/traced: running traced.py skipped: ${skipReason}`);
const withOtel = skipReason ? it.skip : it;

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  traceState?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
  status: { code: number };
}
interface OtlpRequest {
  resourceSpans: {
    resource: { attributes: { key: string; value: Record<string, unknown> }[] };
    scopeSpans: { scope: { name: string }; spans: OtlpSpan[] }[];
  }[];
}

const work = mkdtempSync(join(tmpdir(), 'assay-traced-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs traced.py in a fresh directory with the trace context given; spans and result are asked for in it. */
function runScript(name: string, traceEnv: Record<string, string>) {
  const artifacts = join(work, name);
  const spansPath = join(artifacts, '.assay', 'spans.otlp.json');
  const resultPath = join(work, `${name}-result.json`);
  const env: Record<string, string | undefined> = { ...process.env, ...traceEnv };
  for (const k of ['TRACEPARENT', 'TRACESTATE']) if (!(k in traceEnv)) delete env[k];
  const run = spawnSync('python3', [join(dir, 'traced.py')], {
    env: { ...env, ASSAY_SPANS_PATH: spansPath, ASSAY_RESULT_PATH: resultPath },
    encoding: 'utf8',
    timeout: 60_000,
  });
  expect({ status: run.status, stderr: run.stderr }).toEqual({ status: 0, stderr: '' });
  const lines = run.stdout.split('\n').filter(Boolean);
  expect(lines).toHaveLength(1);
  const [, traceId, spanId, sampled] = LINE.exec(lines[0] ?? '') ?? [];
  expect(traceId).toBeDefined();
  const spans = existsSync(spansPath)
    ? (JSON.parse(readFileSync(spansPath, 'utf8')) as OtlpRequest)
    : undefined;
  const result = JSON.parse(readFileSync(resultPath, 'utf8')) as Record<string, unknown>;
  return { traceId, spanId, sampled, spans, result };
}

function spansOf(request: OtlpRequest): OtlpSpan[] {
  return request.resourceSpans.flatMap((r) => r.scopeSpans.flatMap((s) => s.spans));
}

describe('examples/traced', () => {
  it('the evaluation inlines traced.py exactly, runs it on the python-otel image, and declares artifacts and a result', () => {
    const parsed = parseEvaluationJob(parseYaml(readFileSync(join(dir, 'evaluation.yaml'), 'utf8')));
    if (!parsed.ok) throw new Error(`examples/traced/evaluation.yaml is invalid: ${JSON.stringify(parsed)}`);
    const { spec } = parsed.value;
    expect(spec.image).toBe(imageRef(pythonOtelImage));
    expect(spec.command).toEqual(['python3', '-c']);
    expect(spec.args).toEqual([script]);
    expect(spec.artifacts).toBeDefined();
    expect(spec.result).toBeDefined();
  });

  withOtel(
    'a sampled parent: every span is in its trace, the root is its child, written as OTLP/JSON',
    () => {
      const run = runScript('sampled', {
        TRACEPARENT: `00-${PARENT_TRACE}-${PARENT_SPAN}-01`,
        TRACESTATE: 'congo=t61rcWkgMzE',
      });
      expect({ traceId: run.traceId, sampled: run.sampled }).toEqual({
        traceId: PARENT_TRACE,
        sampled: 'true',
      });
      expect(run.result).toMatchObject({ trace_id: PARENT_TRACE, span_id: run.spanId, sampled: true });
      const request = run.spans!;
      expect(request.resourceSpans).toHaveLength(1);
      expect(request.resourceSpans[0]?.resource.attributes).toContainEqual({
        key: 'service.name',
        value: { stringValue: 'assay-example-traced' },
      });
      const spans = spansOf(request);
      expect(spans.map((s) => s.name).sort()).toEqual(['traced-example', 'work']);
      for (const s of spans) {
        expect(s.traceId).toBe(PARENT_TRACE);
        expect(s.spanId).toMatch(/^[0-9a-f]{16}$/);
        expect(s.traceState).toBe('congo=t61rcWkgMzE');
        expect(s.kind).toBe(1);
        expect(s.status).toEqual({ code: 1 });
        expect(BigInt(s.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(s.startTimeUnixNano));
      }
      const root = spans.find((s) => s.name === 'traced-example')!;
      const child = spans.find((s) => s.name === 'work')!;
      expect(root.spanId).toBe(run.spanId);
      expect(root.parentSpanId).toBe(PARENT_SPAN);
      expect(child.parentSpanId).toBe(root.spanId);
      expect(child.attributes).toEqual([{ key: 'work.sum_of_squares', value: { intValue: '333833500' } }]);
    },
  );

  withOtel('an unsampled parent: the same trace, sampled=false, and no spans file', () => {
    const run = runScript('unsampled', { TRACEPARENT: `00-${PARENT_TRACE}-${PARENT_SPAN}-00` });
    expect({ traceId: run.traceId, sampled: run.sampled, spans: run.spans }).toEqual({
      traceId: PARENT_TRACE,
      sampled: 'false',
      spans: undefined,
    });
  });

  withOtel('no TRACEPARENT: a new trace whose root has no parent', () => {
    const run = runScript('new-trace', {});
    expect(run.traceId).not.toBe(PARENT_TRACE);
    expect(run.sampled).toBe('true');
    const spans = spansOf(run.spans!);
    expect(spans.every((s) => s.traceId === run.traceId)).toBe(true);
    expect(spans.find((s) => s.name === 'traced-example')?.parentSpanId).toBeUndefined();
  });
});
