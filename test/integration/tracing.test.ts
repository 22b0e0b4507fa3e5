/**
 * One trace from the caller to the pod (docs/observability.md), on the real stack and its trace store: the `assay` CLI
 * submits (traced, as a user runs it with `stack env`), worker child processes run the evaluation (traced through
 * the stack's OTLP endpoint, which the global setup keeps in ASSAY_TEST_OTLP_ENDPOINT for the suites that trace),
 * and the trace is read back from Jaeger's query API by the record's id.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Client, Connection } from '@temporalio/client';
import { parse, stringify } from 'yaml';
import { AssayClient } from '../../src/client/assay-client.js';
import type { EvaluationRecord } from '../../src/spec/record.js';
import { projectRoot, runAssay } from '../support/cli.js';
import { createWorkerProcesses, newId } from '../support/evaluation-harness.js';
import { waitFor } from '../support/wait-for.js';
import { stackTestEnv } from '../support/test-env.js';

/** The parts of Jaeger's `GET /api/traces/<id>` read here. */
interface JaegerTrace {
  readonly traceID: string;
  readonly spans: readonly {
    readonly spanID: string;
    readonly operationName: string;
    readonly processID: string;
    readonly references: readonly { readonly spanID: string }[];
    readonly tags: readonly { readonly key: string; readonly value: unknown }[];
  }[];
  readonly processes: Readonly<
    Record<string, { serviceName: string; tags: readonly { key: string; value: unknown }[] }>
  >;
}

const queue = newId('tracing');
const workers = createWorkerProcesses();
let dir: string;
let connection: Connection;
let client: AssayClient;
let worker: ChildProcess;

function variable(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: the stack-backed global setup exports it from stack env`);
  return value;
}

/** The trace `traceId` once it holds every span name in `names` (the exporters batch; the pod's spans come last). */
async function traceWith(traceId: string, names: readonly string[]): Promise<JaegerTrace> {
  let last: JaegerTrace | null = null;
  try {
    return await waitFor(
      async () => {
        const res = await fetch(`${variable('ASSAY_TRACES_UI')}/api/traces/${traceId}`);
        if (res.status === 404) return undefined;
        const body = (await res.json()) as { data: JaegerTrace[] | null };
        const found = body.data?.[0];
        if (found === undefined) return undefined;
        last = found;
        const have = new Set(found.spans.map((s) => s.operationName));
        return names.every((n) => have.has(n)) ? found : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 500, what: `trace ${traceId}` },
    );
  } catch (err) {
    const seen = (last as JaegerTrace | null)?.spans.map((s) => s.operationName).sort() ?? [];
    throw new Error(`${(err as Error).message}; spans so far: ${seen.join(', ')}`);
  }
}

/** A manifest file of the traced example with a unique name, `spec` overriding its spec. */
async function exampleFile(name: string, spec: Record<string, unknown> = {}): Promise<string> {
  const doc = parse(await readFile(join(projectRoot, 'examples', 'traced', 'evaluation.yaml'), 'utf8')) as {
    metadata: Record<string, unknown>;
    spec: Record<string, unknown>;
  };
  doc.metadata.name = name;
  Object.assign(doc.spec, spec);
  const path = join(dir, `${name}.yaml`);
  await writeFile(path, stringify(doc));
  return path;
}

/** `assay run -f file --wait -o json` on this suite's queue; the record it prints. */
async function runWaiting(file: string, env: Record<string, string> = {}): Promise<EvaluationRecord> {
  const run = await runAssay(['run', '-f', file, '--wait', '-o', 'json'], {
    ...traced(),
    ASSAY_TASK_QUEUE: queue,
    ...env,
  });
  if (run.stdout.trim() === '')
    throw new Error(`assay run printed nothing (exit ${run.code}): ${run.stderr}`);
  return JSON.parse(run.stdout) as EvaluationRecord;
}

/** The environment that turns tracing on in the worker and CLI processes this suite starts. */
const traced = (): Record<string, string> => ({
  OTEL_EXPORTER_OTLP_ENDPOINT: variable('ASSAY_TEST_OTLP_ENDPOINT'),
});

const processOf = (trace: JaegerTrace, operation: string) => {
  const span = trace.spans.find((s) => s.operationName === operation);
  if (span === undefined) throw new Error(`no span ${operation}`);
  return trace.processes[span.processID];
};
const tag = (tags: readonly { key: string; value: unknown }[] | undefined, key: string) =>
  tags?.find((t) => t.key === key)?.value;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'assay-tracing-'));
  worker = await workers.start(queue, traced());
  const env = stackTestEnv();
  connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  client = new AssayClient(new Client({ connection, namespace: env.TEMPORAL_NAMESPACE }), {
    taskQueue: queue,
  });
}, 120_000);

afterAll(async () => {
  workers.killAll();
  await connection?.close();
  if (dir !== undefined) await rm(dir, { recursive: true, force: true });
});

describe('tracing', () => {
  it("holds the client's start, the workflow, every activity, the Kubernetes and S3 requests and the pod's own spans in one trace", async () => {
    const id = newId('traced');
    const record = await runWaiting(await exampleFile(id));
    expect(record.outcome).toBe('Succeeded');
    expect(record.traceId).toMatch(/^[0-9a-f]{32}$/);
    const traceId = record.traceId!;
    // The pod continued the trace it was given: its own line and result name the same trace, sampled.
    expect(record.result).toMatchObject({ trace_id: traceId, sampled: true });
    const logs = await runAssay(['logs', id], { ...traced(), ASSAY_TASK_QUEUE: queue });
    expect(logs.stdout).toContain(`trace_id=${traceId} `);

    const trace = await traceWith(traceId, [
      `submit ${id}`,
      'StartWorkflow:evaluation',
      'RunWorkflow:evaluation',
      'select-cluster',
      'attempt 1',
      'create-job',
      'running',
      'capture',
      'collect',
      'cleanup',
      'RunActivity:selectCluster',
      'RunActivity:createJob',
      'RunActivity:awaitAttempt',
      'RunActivity:storeAttemptLogs',
      'RunActivity:collectOutputs',
      'RunActivity:cleanupAttempt',
      'RunActivity:writeRecord',
      'k8s createNamespacedJob',
      'k8s GET pods/log',
      's3 PutObject',
      'traced-example',
      'work',
    ]);
    expect(trace.traceID).toBe(traceId);
    expect(processOf(trace, `submit ${id}`)?.serviceName).toBe('assay-cli');
    expect(processOf(trace, 'RunActivity:createJob')?.serviceName).toBe('assay-worker');
    expect(processOf(trace, 'traced-example')?.serviceName).toBe('assay-example-traced');
    // One tree: every span but the root has its parent in the trace.
    const ids = new Set(trace.spans.map((s) => s.spanID));
    const roots = trace.spans.filter((s) => !s.references.some((r) => ids.has(r.spanID)));
    expect(roots.map((s) => s.operationName)).toEqual([`submit ${id}`]);
    // The Job create is a child of the createJob activity, which is one of the create-job phase.
    const byId = new Map(trace.spans.map((s) => [s.spanID, s]));
    const parentOf = (name: string) =>
      byId.get(trace.spans.find((s) => s.operationName === name)?.references[0]?.spanID ?? '')?.operationName;
    expect(parentOf('k8s createNamespacedJob')).toBe('RunActivity:createJob');
    expect(parentOf('RunActivity:createJob')).toBe('StartActivity:createJob');
    expect(parentOf('StartActivity:createJob')).toBe('create-job');
    expect(parentOf('create-job')).toBe('attempt 1');

    // `assay status` links the trace.
    const status = await runAssay(['status', id], { ...traced(), ASSAY_TASK_QUEUE: queue });
    expect(status.stdout).toContain(`${variable('ASSAY_TRACES_UI')}/trace/${traceId}`);
  });

  it('keeps a failed evaluation at sampling ratio 0, and drops a succeeded one', async () => {
    const ok = await runWaiting(await exampleFile(newId('unsampled-ok')), {
      ASSAY_TRACE_SAMPLING_RATIO: '0',
    });
    const failedId = newId('unsampled-failed');
    const failed = await runWaiting(
      await exampleFile(failedId, { command: ['sh', '-c'], args: ['echo failing; exit 3'] }),
      { ASSAY_TRACE_SAMPLING_RATIO: '0' },
    );
    expect(ok.outcome).toBe('Succeeded');
    expect(failed.outcome).toBe('Failed');
    // Both have a trace id (the root's decision travels with it), neither was sampled.
    expect(ok.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(failed.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(ok.result).toMatchObject({ trace_id: ok.traceId, sampled: false });

    const trace = await traceWith(failed.traceId!, [`evaluation ${failedId}`, 'attempt 1']);
    const summary = trace.spans.find((s) => s.operationName === `evaluation ${failedId}`);
    expect(tag(summary?.tags, 'assay.sampling')).toBe('kept-because-failed');
    expect(tag(summary?.tags, 'assay.outcome')).toBe('Failed');
    expect(tag(summary?.tags, 'error')).toBe(true);
    // Nothing of the unsampled run itself was recorded.
    expect(trace.spans.some((s) => s.operationName.startsWith('RunActivity:'))).toBe(false);
    // The succeeded one left no trace at all (its record was written after the failed one's summary was exported).
    const res = await fetch(`${variable('ASSAY_TRACES_UI')}/api/traces/${ok.traceId}`);
    expect(res.status).toBe(404);
  });

  it('continues the same trace in the worker that takes over from a SIGKILLed one', async () => {
    const id = newId('traced-killed');
    const file = await exampleFile(id, {
      command: ['sh', '-c'],
      args: ['echo started; sleep 12; echo done'],
    });
    const started = await runAssay(['run', '-f', file], { ...traced(), ASSAY_TASK_QUEUE: queue });
    expect(started.code).toBe(0);
    const before = await waitFor(
      async () => {
        const s = await client.status(id).catch(() => null);
        return s?.phase === 'Running' ? s : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 500, what: `${id} running` },
    );
    expect(before.traceId).toMatch(/^[0-9a-f]{32}$/);
    // What the first worker exported before it died stays; what it still buffered (up to the batch delay, 1 s) is
    // lost with it, so the kill waits for the Job's creation to be stored.
    await traceWith(before.traceId!, ['RunActivity:createJob']);
    await workers.kill(worker);
    worker = await workers.start(queue, traced());
    const record = await client.result(id);
    expect(record.outcome).toBe('Succeeded');
    expect(record.traceId).toBe(before.traceId);

    const trace = await traceWith(before.traceId!, [
      'RunWorkflow:evaluation',
      'RunActivity:createJob',
      'RunActivity:collectOutputs',
      'RunActivity:writeRecord',
      'running',
    ]);
    const instance = (operation: string) => tag(processOf(trace, operation)?.tags, 'service.instance.id');
    // The Job was created by the first worker, the outputs collected and the record written by the second.
    expect(instance('RunActivity:createJob')).toBeDefined();
    expect(instance('RunActivity:writeRecord')).toBeDefined();
    expect(instance('RunActivity:writeRecord')).not.toBe(instance('RunActivity:createJob'));
    expect(instance('RunActivity:collectOutputs')).toBe(instance('RunActivity:writeRecord'));
  });
});
