/**
 * The worker's evaluation metrics: duration, queue time and attempts from written records; the phase gauge from
 * (cached) visibility counts; the bytes a log capture stores; Kubernetes API errors through the clients' hook.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Registry } from 'prom-client';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { apiClient, createKubeClients, getText } from '../../../src/kube/clients.js';
import { writeFakeKubeconfig } from '../../support/fake-kubeconfig.js';
import { LogCapture, type CapturedFile } from '../../../src/logs/capture.js';
import type { EvaluationOutput } from '../../../src/spec/record.js';
import {
  listedPhases,
  phaseCounts,
  registerEvaluationMetrics,
} from '../../../src/workers/evaluation-metrics.js';
import { FakeLogSource, MemoryStore, type LogLine } from '../logs/fakes.js';

const lines = (text: string, name: string): string[] => text.split('\n').filter((l) => l.startsWith(name));

function record(over: {
  team?: string;
  outcome?: EvaluationOutput['outcome'];
  submittedAt: string;
  startedAt: string | null;
  finishedAt: string | null;
  kinds?: (string | null)[];
}): EvaluationOutput {
  return {
    team: over.team ?? 'research',
    outcome: over.outcome ?? 'Succeeded',
    timings: { submittedAt: over.submittedAt, startedAt: over.startedAt, finishedAt: over.finishedAt },
    attempts: (over.kinds ?? []).map((kind, i) => ({ attempt: i + 1, kind })),
  } as unknown as EvaluationOutput;
}

describe('record-derived metrics', () => {
  it('observes submitted→finished by team and outcome, submitted→first start by team, and attempts by kind', async () => {
    const registry = new Registry();
    const m = registerEvaluationMetrics(registry);
    m.observeRecord(
      record({
        submittedAt: '2026-01-01T00:00:00Z',
        startedAt: '2026-01-01T00:00:03Z',
        finishedAt: '2026-01-01T00:01:40Z',
        kinds: ['Infrastructure', 'Succeeded'],
      }),
    );
    m.observeRecord(
      record({
        outcome: 'ConfigurationError',
        submittedAt: '2026-01-01T00:00:00.000Z',
        startedAt: null,
        finishedAt: '2026-01-01T00:00:00.500Z',
      }),
    );
    m.observeRecord(
      record({
        submittedAt: '2026-01-01T00:00:00Z',
        startedAt: '2026-01-01T00:00:01Z',
        finishedAt: null,
        kinds: [null],
      }),
    );
    const text = await registry.metrics();
    expect(lines(text, 'assay_evaluation_duration_seconds_count').sort()).toEqual([
      'assay_evaluation_duration_seconds_count{team="research",outcome="ConfigurationError"} 1',
      'assay_evaluation_duration_seconds_count{team="research",outcome="Succeeded"} 1',
    ]);
    expect(lines(text, 'assay_evaluation_duration_seconds_sum').sort()).toEqual([
      'assay_evaluation_duration_seconds_sum{team="research",outcome="ConfigurationError"} 0.5',
      'assay_evaluation_duration_seconds_sum{team="research",outcome="Succeeded"} 100',
    ]);
    const bucket = (le: string) =>
      lines(text, 'assay_evaluation_duration_seconds_bucket{').find(
        (l) => l.includes(`le="${le}"`) && l.includes('outcome="Succeeded"'),
      );
    expect([bucket('60')?.split(' ')[1], bucket('120')?.split(' ')[1]]).toEqual(['0', '1']);
    expect(lines(text, 'assay_evaluation_queue_seconds_sum')).toEqual([
      'assay_evaluation_queue_seconds_sum{team="research"} 4',
    ]);
    expect(lines(text, 'assay_evaluation_queue_seconds_count')).toEqual([
      'assay_evaluation_queue_seconds_count{team="research"} 2',
    ]);
    expect(lines(text, 'assay_attempts_total').sort()).toEqual([
      'assay_attempts_total{kind="Infrastructure"} 1',
      'assay_attempts_total{kind="Succeeded"} 1',
      'assay_attempts_total{kind="unknown"} 1',
    ]);
  });
});

describe('assay_evaluations_in_phase', () => {
  it('sets every listed phase from one read, reused for 10 s; a failed read leaves the gauge empty', async () => {
    let clock = 0;
    let reads = 0;
    let fail = false;
    const registry = new Registry();
    registerEvaluationMetrics(registry, {
      now: () => clock,
      phases: () => {
        reads++;
        if (fail) return Promise.reject(new Error('visibility down'));
        return Promise.resolve({ Validating: 1, Queued: 4, Running: reads, BackingOff: 0, Completed: 0 });
      },
    });
    const scrape = async () => lines(await registry.metrics(), 'assay_evaluations_in_phase{');
    expect(await scrape()).toEqual([
      'assay_evaluations_in_phase{phase="Validating"} 1',
      'assay_evaluations_in_phase{phase="Queued"} 4',
      'assay_evaluations_in_phase{phase="Running"} 1',
      'assay_evaluations_in_phase{phase="BackingOff"} 0',
      'assay_evaluations_in_phase{phase="Completed"} 0',
    ]);
    clock = 9_999;
    expect(await scrape()).toContain('assay_evaluations_in_phase{phase="Running"} 1');
    expect(reads).toBe(1);
    clock = 10_000;
    expect(await scrape()).toContain('assay_evaluations_in_phase{phase="Running"} 2');
    fail = true;
    clock = 20_000;
    expect(await scrape()).toEqual([]);
    expect(reads).toBe(3);
  });

  it('counts running evaluation workflows of the task queue per phase (one count query each)', async () => {
    const queries: string[] = [];
    const temporal = {
      workflow: {
        count: (query: string) => {
          queries.push(query);
          return Promise.resolve({
            count: query.includes("'Running'") && query.endsWith("'Queued'") ? 3 : 0,
          });
        },
      },
    } as unknown as Parameters<typeof phaseCounts>[0];
    const counts = await phaseCounts(temporal, 'assay');
    expect(counts).toEqual({ Validating: 0, Queued: 3, Running: 0, BackingOff: 0, Completed: 0 });
    expect(queries).toHaveLength(listedPhases.length);
    expect(queries[1]).toBe(
      "WorkflowType = 'evaluation' AND ExecutionStatus = 'Running' AND TaskQueue = 'assay' AND AssayPhase = 'Queued'",
    );
    expect(Object.keys(counts).sort()).toEqual([...listedPhases].sort());
  });
});

describe('assay_log_capture_bytes_total', () => {
  it('adds up to what the capture stored, per file', async () => {
    const registry = new Registry();
    const m = registerEvaluationMetrics(registry);
    const log: LogLine[] = Array.from({ length: 200 }, (_, i) => ({
      stream: i % 3 === 0 ? 'Stderr' : 'Stdout',
      ts: `2025-01-01T00:00:${String(Math.floor(i / 10)).padStart(2, '0')}Z`,
      text: `line ${i}`,
    }));
    const seen: Partial<Record<CapturedFile, number>> = {};
    const result = await new LogCapture({
      store: new MemoryStore(),
      source: new FakeLogSource(log),
      keys: { stdout: 'o', stderr: 'e', combined: 'c', events: 'ev' },
      pod: 'pod',
      split: true,
      rules: {},
      resume: null,
      partSizeBytes: 256,
      onStoredBytes: (file, bytes) => {
        seen[file] = (seen[file] ?? 0) + bytes;
        m.captureBytes(file, bytes);
      },
    }).run({ abort: new AbortController().signal, drain: new AbortController().signal });
    expect(seen).toEqual({
      stdout: result.files.stdout!.bytes,
      stderr: result.files.stderr!.bytes,
      events: result.events.bytes,
    });
    expect(lines(await registry.metrics(), 'assay_log_capture_bytes_total{').sort()).toEqual([
      `assay_log_capture_bytes_total{stream="events"} ${result.events.bytes}`,
      `assay_log_capture_bytes_total{stream="stderr"} ${result.files.stderr!.bytes}`,
      `assay_log_capture_bytes_total{stream="stdout"} ${result.files.stdout!.bytes}`,
    ]);
  });
});

describe('assay_kube_api_errors_total through createKubeClients', () => {
  let server: Server | undefined;
  let dir: string | undefined;
  afterAll(async () => {
    if (server !== undefined) await new Promise((r) => server!.close(r));
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('counts failed generated-client calls, raw GETs and watches by status; success and aborts not at all', async () => {
    // An API server that knows one pod and answers 500 on /metrics and 403 on watches.
    server = createServer((req, res) => {
      const url = req.url ?? '';
      if (url.startsWith('/api/v1/namespaces/ns/pods/known'))
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'known' } }));
      else if (url.startsWith('/metrics')) res.writeHead(500).end('boom');
      else if (url.includes('watch=true')) res.writeHead(403).end('{}');
      else
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ kind: 'Status', code: 404, message: 'not found' }));
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    dir = await mkdtemp(join(tmpdir(), 'assay-kube-errors-'));
    const kubeconfig = await writeFakeKubeconfig(dir, port);
    const registry = new Registry();
    const m = registerEvaluationMetrics(registry);
    const kube = createKubeClients(
      { kind: 'kubeconfig', path: kubeconfig, context: null },
      { onApiError: (code) => m.kubeApiError('local', code) },
    );
    await kube.core.readNamespacedPod({ name: 'known', namespace: 'ns' });
    await expect(kube.core.readNamespacedPod({ name: 'gone', namespace: 'ns' })).rejects.toThrow();
    await expect(kube.batch.readNamespacedJob({ name: 'gone', namespace: 'ns' })).rejects.toThrow();
    const custom = apiClient(kube, CustomObjectsApi);
    await expect(
      custom.getNamespacedCustomObject({
        group: 'g',
        version: 'v1',
        namespace: 'ns',
        plural: 'p',
        name: 'gone',
      }),
    ).rejects.toThrow();
    await expect(getText(kube.config, '/metrics')).rejects.toThrow('answered 500');
    await new Promise<void>((resolve) => {
      void kube.watch.watch(
        '/api/v1/namespaces/ns/pods',
        {},
        () => undefined,
        () => resolve(),
      );
    });
    const aborted = new AbortController();
    aborted.abort();
    await expect(getText(kube.config, '/metrics', aborted.signal)).rejects.toThrow();
    expect(lines(await registry.metrics(), 'assay_kube_api_errors_total{').sort()).toEqual([
      'assay_kube_api_errors_total{cluster="local",code="403"} 1',
      'assay_kube_api_errors_total{cluster="local",code="404"} 3',
      'assay_kube_api_errors_total{cluster="local",code="500"} 1',
    ]);
  });
});
