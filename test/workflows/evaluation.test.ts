/**
 * The evaluation workflow's decisions on the real Temporal dev server, with stub activities: retries with back-off,
 * fail-fast configuration errors, non-retried failures, cancellation with cleanup, search attributes, the status
 * query. Each test uses its own task queues, so it never meets another test's workers.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Context } from '@temporalio/activity';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { Worker } from '@temporalio/worker';
import { ulid } from 'ulid';
import type {
  AttemptRef,
  CentralActivities,
  ClusterQueueActivities,
  ClusterRequirements,
} from '../../src/activities/types.js';
import type {
  CollectOutputsInput,
  CollectedOutputs,
  OutputActivities,
} from '../../src/activities/artifacts.js';
import type { JobRequest } from '../../src/spec/job-request.js';
import type { ExecutorKind } from '../../src/spec/worker-config.js';
import type { AttemptEnd, EvaluationOutput, EvaluationStatus } from '../../src/spec/record.js';
import { AssayClient } from '../../src/client/assay-client.js';
import { clusterTaskQueue } from '../../src/spec/names.js';
import { errorTypes } from '../../src/spec/error-types.js';
import { searchAttributeKeys } from '../../src/spec/search-attribute-keys.js';
import { loadWorkflowBundle } from '../../src/workers/run.js';
import { connectWorkflowTier, type WorkflowTier } from '../support/temporal.js';
import { stackTestEnv } from '../support/test-env.js';

let tier: WorkflowTier;
let client: Client;

beforeAll(async () => {
  tier = await connectWorkflowTier({
    load: () => loadWorkflowBundle(stackTestEnv().ASSAY_TEST_WORKFLOW_BUNDLE),
  });
  client = tier.client;
}, 120_000);

afterAll(async () => {
  await tier?.close();
});

function manifest(spec: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    metadata: { labels: { 'cost-center': 'research' } },
    spec: {
      team: 'ml',
      user: 'ada',
      image: 'localhost/assay/busybox:test',
      command: ['sh', '-c', 'echo hi'],
      retries: { maxAttempts: 3, backoffSeconds: 1 },
      ...spec,
    },
  };
}

function end(kind: AttemptEnd['kind'], extra: Partial<AttemptEnd> = {}): AttemptEnd {
  return {
    kind,
    pod: 'pod-x',
    exitCode: kind === 'Succeeded' ? 0 : null,
    reason: null,
    message: null,
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:00:01.000Z',
    result: null,
    terminationMessage: null,
    ...extra,
  };
}

interface Calls {
  created: JobRequest[];
  awaited: AttemptRef[];
  cleaned: AttemptRef[];
  logs: AttemptRef[];
  records: EvaluationOutput[];
  outputs: CollectOutputsInput[];
  selected: ClusterRequirements[];
}

/**
 * Runs one evaluation against stub activities. `outcomes[n]` is what attempt n+1's wait returns; `'block'` waits
 * (heartbeating) until cancelled.
 */
async function runEvaluation(
  outcomes: (AttemptEnd | 'block')[],
  options: {
    spec?: Record<string, unknown>;
    /** The workflow input's spec as is (default: the test manifest, normalised as the client does). */
    rawSpec?: unknown;
    whileRunning?: (id: string) => Promise<void>;
    createJob?: (request: JobRequest) => Promise<{ job: string; created: boolean }>;
    collected?: CollectedOutputs;
    /** The executor the stub cluster choice names (none by default, as in choices from before executors). */
    executor?: ExecutorKind;
    /**
     * Several clusters (default: `local` alone): selection takes the first one the requirements do not avoid; an
     * unserved one has no worker on its queue. The choice carries the placement bounds given here.
     */
    clusters?: { name: string; served?: boolean }[];
    bounds?: { unschedulableSeconds?: number; lostClusterSeconds?: number };
  } = {},
): Promise<{ record?: EvaluationOutput; error?: unknown; calls: Calls; workflowId: string }> {
  const queue = `assay-wft-${ulid().toLowerCase()}`;
  const calls: Calls = {
    created: [],
    awaited: [],
    cleaned: [],
    logs: [],
    records: [],
    outputs: [],
    selected: [],
  };
  let started!: () => void;
  const running = new Promise<void>((r) => (started = r));
  const central: CentralActivities = {
    selectCluster: (req) => {
      calls.selected.push(req);
      if (options.clusters !== undefined) {
        const names = options.clusters.map((c) => c.name);
        const open = names.filter((n) => !(req.avoid ?? []).some((a) => a.name === n));
        const name = open[0] ?? names[0]!;
        return Promise.resolve({
          name,
          taskQueue: clusterTaskQueue(name, queue),
          namespace: `assay-${req.team}`,
          runtimeClassName: null,
          reason: 'stub',
          candidates: (open.length > 0 ? open : names).map((n) => ({ name: n, score: 1, terms: {} })),
          excluded: [],
          // As the real selection: spill-over only where another cluster is left to spill to.
          ...(options.bounds?.lostClusterSeconds !== undefined
            ? { lostClusterSeconds: options.bounds.lostClusterSeconds }
            : {}),
          ...(options.bounds?.unschedulableSeconds !== undefined && open.length > 1
            ? { unschedulableSeconds: options.bounds.unschedulableSeconds }
            : {}),
        });
      }
      return Promise.resolve({
        name: 'local',
        taskQueue: clusterTaskQueue('local', queue),
        namespace: `assay-${req.team}`,
        runtimeClassName: null,
        reason: 'stub',
        candidates: [{ name: 'local', score: 1, terms: { weight: 1 } }],
        excluded: [{ name: 'b', reason: 'cordoned' }],
        ...(options.executor !== undefined ? { executor: options.executor } : {}),
      });
    },
    writeRecord: (record) => {
      calls.records.push(record);
      return Promise.resolve({ key: record.recordKey, bytes: 1 });
    },
  };
  const kube: ClusterQueueActivities = {
    createJob:
      options.createJob ??
      ((request) => {
        calls.created.push(request);
        return Promise.resolve({ job: `assay-${request.evaluationId}-${request.attempt}`, created: true });
      }),
    awaitAttempt: async (ref) => {
      calls.awaited.push(ref);
      const planned = outcomes[ref.attempt - 1];
      if (planned === undefined) throw new Error(`no outcome planned for attempt ${ref.attempt}`);
      if (planned !== 'block') return planned;
      started();
      const ctx = Context.current();
      for (;;) {
        ctx.heartbeat();
        await ctx.sleep(200);
      }
    },
    cleanupAttempt: (ref) => {
      calls.cleaned.push(ref);
      return Promise.resolve({ jobDeleted: true, finalizersRemoved: 1 });
    },
    storeAttemptLogs: (ref) => {
      calls.logs.push(ref);
      return Promise.resolve({
        split: true,
        stdout: `evaluations/${ref.evaluationId}/attempts/${ref.attempt}/stdout.log`,
        stderr: `evaluations/${ref.evaluationId}/attempts/${ref.attempt}/stderr.log`,
        combined: null,
        bytes: 10,
      });
    },
  };
  const outputs: OutputActivities = {
    collectOutputs: (input) => {
      calls.outputs.push(input);
      return Promise.resolve(
        options.collected ?? { result: null, resultInfo: null, artifacts: [], artifactsSummary: null },
      );
    },
  };
  const workers = await Promise.all([
    Worker.create({
      connection: tier.workerConnection,
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      taskQueue: queue,
      workflowBundle: tier.bundle,
      activities: central,
    }),
    ...(options.clusters ?? [{ name: 'local' }])
      .filter((c) => c.served !== false)
      .map((c) =>
        Worker.create({
          connection: tier.workerConnection,
          namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
          taskQueue: clusterTaskQueue(c.name, queue),
          activities: { ...kube, ...outputs },
        }),
      ),
  ]);
  const evaluationId = ulid().toLowerCase();
  const workflowId = `eval-${evaluationId}`;
  const runs = workers.map((w) => w.run());
  try {
    // The real client's start (validation, normalisation, search attributes), unless the test sends its own spec.
    if (options.rawSpec === undefined) {
      await new AssayClient(client, { taskQueue: queue }).start(manifest(options.spec), {
        idempotencyKey: evaluationId,
      });
    } else {
      await client.workflow.start('evaluation', {
        taskQueue: queue,
        workflowId,
        args: [{ evaluationId, spec: options.rawSpec, submittedAt: new Date().toISOString() }],
      });
    }
    const handle = client.workflow.getHandle(workflowId);
    if (options.whileRunning !== undefined) {
      await running;
      await options.whileRunning(workflowId);
    }
    try {
      const record = (await handle.result()) as EvaluationOutput;
      return { record, calls, workflowId };
    } catch (error) {
      return { error, calls, workflowId };
    }
  } finally {
    for (const w of workers) w.shutdown();
    await Promise.all(runs);
  }
}

describe('evaluation workflow (stub activities)', () => {
  it('moves an attempt its cluster could not schedule to the next cluster, without using up a retry', async () => {
    const unschedulable = end('Infrastructure', {
      reason: 'Unschedulable',
      startedAt: null,
      finishedAt: null,
      pod: null,
    });
    const { record, calls } = await runEvaluation([unschedulable, end('Succeeded')], {
      spec: { retries: { maxAttempts: 1, backoffSeconds: 1 } },
      clusters: [{ name: 'a' }, { name: 'b' }],
      bounds: { unschedulableSeconds: 7, lostClusterSeconds: 30 },
    });
    expect(record?.outcome).toBe('Succeeded');
    expect(record?.cluster).toBe('b');
    expect(record?.attempts.map((a) => [a.attempt, a.cluster, a.reason])).toEqual([
      [1, 'a', 'Unschedulable'],
      [2, 'b', null],
    ]);
    // Spill-over was offered on a (two candidates), not on b (the only one left); both waits know the lost bound.
    expect(calls.awaited.map((r) => (r as { unschedulableSeconds?: number }).unschedulableSeconds)).toEqual([
      7,
      undefined,
    ]);
    expect(calls.selected[1]?.avoid).toEqual([{ name: 'a', reason: 'attempt 1 Unschedulable' }]);
    // The unschedulable attempt was cleaned up on its cluster before the move.
    expect(calls.cleaned.map((r) => [r.attempt, r.namespace])).toEqual([
      [1, 'assay-ml'],
      [2, 'assay-ml'],
    ]);
  });

  it('moves an evaluation whose cluster worker never picks up its Job to another cluster', async () => {
    const started = Date.now();
    const { record, calls } = await runEvaluation([end('Succeeded'), end('Succeeded')], {
      clusters: [{ name: 'gone', served: false }, { name: 'b' }],
      bounds: { lostClusterSeconds: 2 },
    });
    expect(record?.outcome).toBe('Succeeded');
    expect(record?.attempts.map((a) => [a.cluster, a.reason, a.kind])).toEqual([
      ['gone', 'ClusterWorkerLost', 'Infrastructure'],
      ['b', null, 'Succeeded'],
    ]);
    expect(calls.created.map((r) => r.attempt)).toEqual([2]);
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('runs the next attempt elsewhere when the API server of a running attempt is lost, and keeps its logs', async () => {
    const lost = end('Infrastructure', { reason: 'ClusterUnreachable', exitCode: null });
    const { record, calls } = await runEvaluation([lost, end('Succeeded')], {
      clusters: [{ name: 'a' }, { name: 'b' }],
      bounds: { lostClusterSeconds: 5 },
    });
    expect(record?.outcome).toBe('Succeeded');
    expect(record?.attempts.map((a) => [a.cluster, a.reason])).toEqual([
      ['a', 'ClusterUnreachable'],
      ['b', null],
    ]);
    expect(record?.attempts[0]?.logs?.stdout).toBe(
      `evaluations/${record?.evaluationId}/attempts/1/stdout.log`,
    );
    // Both attempts had Jobs; the lost one was not waited on beyond its wait.
    expect(calls.created.map((r) => r.attempt)).toEqual([1, 2]);
    expect(calls.awaited.map((r) => (r as { lostClusterSeconds?: number }).lostClusterSeconds)).toEqual([
      5, 5,
    ]);
  });

  it('names the executor in the record and in the memo `assay list` reads (kubernetes when the choice has none)', async () => {
    const [docker, older] = await Promise.all([
      runEvaluation([end('Succeeded', { exitCode: 0, reason: 'Completed' })], { executor: 'docker' }),
      runEvaluation([end('Succeeded', { exitCode: 0, reason: 'Completed' })]),
    ]);
    expect(docker.record?.executor).toBe('docker');
    expect(older.record).not.toHaveProperty('executor');
    const memo = async (workflowId: string) => (await client.workflow.getHandle(workflowId).describe()).memo;
    expect(await memo(docker.workflowId)).toMatchObject({ executor: 'docker' });
    expect(await memo(older.workflowId)).toMatchObject({ executor: 'kubernetes' });
  });

  it('succeeds in one attempt, cleans up, writes the record and upserts search attributes', async () => {
    const { record, calls, workflowId } = await runEvaluation([
      end('Succeeded', { exitCode: 0, reason: 'Completed', result: { score: 0.9 } }),
    ]);
    expect(record).toMatchObject({
      outcome: 'Succeeded',
      exitCode: 0,
      result: { score: 0.9 },
      team: 'ml',
      user: 'ada',
      cluster: 'local',
      namespace: 'assay-ml',
    });
    expect(record?.attempts).toHaveLength(1);
    expect(record?.attempts[0]?.logs?.stdout).toMatch(/attempts\/1\/stdout\.log$/);
    expect(calls.created[0]).toMatchObject({ attempt: 1, labels: { 'cost-center': 'research' } });
    expect(calls.cleaned.map((c) => c.attempt)).toEqual([1]);
    expect(calls.records).toHaveLength(1);
    const description = await client.workflow.getHandle(workflowId).describe();
    expect(description.typedSearchAttributes.get(searchAttributeKeys.outcome)).toBe('Succeeded');
    expect(description.typedSearchAttributes.get(searchAttributeKeys.phase)).toBe('Completed');
    expect(description.typedSearchAttributes.get(searchAttributeKeys.team)).toBe('ml');
    expect(description.typedSearchAttributes.get(searchAttributeKeys.exitCode)).toBe(0);
    expect(record).not.toHaveProperty('spec');

    // History economy: the spec travels once (the input), the start's search attributes are not repeated, and the
    // phase is upserted once per listed phase (Running, Completed). A team without a quota reserves nothing. The SDK
    // upserts TemporalChangeVersion once for the executor-memo-early patch (with its marker; the memo has its own).
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const upserts = events.flatMap((e) =>
      e.upsertWorkflowSearchAttributesEventAttributes?.searchAttributes?.indexedFields
        ? [Object.keys(e.upsertWorkflowSearchAttributesEventAttributes.searchAttributes.indexedFields).sort()]
        : [],
    );
    expect(upserts).toEqual([
      ['TemporalChangeVersion'],
      ['AssayCluster', 'AssayPhase'],
      ['AssayExitCode', 'AssayOutcome', 'AssayPhase'],
    ]);
    // The manifest (its apiVersion) is in the input only; the Job request carries the workload, not the manifest.
    const withSpec = events.filter((e) =>
      Buffer.from(temporal.api.history.v1.HistoryEvent.encode(e).finish()).includes(
        '"apiVersion":"assay.dev/v1"',
      ),
    );
    expect(withSpec.map((e) => e.eventType)).toEqual([
      temporal.api.enums.v1.EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED,
    ]);
    // Cluster choice, Job, capture, wait, cleanup, record: no step for quota (the team has none) nor webhooks. Counted
    // without the workflow tasks, whose number depends on timing (activity results landing in one task or two) — a
    // loaded machine adds a task or two; the commands and their results do not vary.
    const { EventType } = temporal.api.enums.v1;
    const taskEvents = new Set([
      EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
      EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
      EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
    ]);
    expect(events.filter((e) => !taskEvents.has(e.eventType ?? 0)).length).toBeLessThanOrEqual(24);
    expect(
      events.filter((e) => e.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED).length,
    ).toBeLessThanOrEqual(8);
    // The memo's patch marker is recorded before the cluster choice's local-activity marker, in the first workflow
    // task, so no split of that task can separate them on replay.
    const markers = events.flatMap((e) =>
      e.markerRecordedEventAttributes?.markerName ? [e.markerRecordedEventAttributes.markerName] : [],
    );
    expect(markers.slice(0, 2)).toEqual(['core_patch', 'core_local_activity']);
  }, 60_000);

  it('collects the declared outputs of the final attempt before cleanup; refused entries fail a success', async () => {
    const summary = {
      manifestKey: 'evaluations/x/artifacts.json',
      files: 1,
      bytes: 3,
      complete: true,
      violations: [{ path: 'passwd', kind: 'linkOutside' as const, message: 'symbolic link leaves' }],
      violationCount: 1,
    };
    const { record, calls } = await runEvaluation(
      [
        end('Infrastructure', { reason: 'Evicted' }),
        end('Succeeded', { exitCode: 0, terminationMessage: '{}' }),
      ],
      {
        spec: {
          artifacts: { maxFiles: 5 },
          resources: { ephemeralStorage: '2Gi' },
        },
        collected: {
          result: { big: false },
          resultInfo: { source: 'file', key: 'k', bytes: 14, sha256: 'x', inline: true },
          artifacts: [{ path: 'a', key: 'evaluations/x/artifacts/a', bytes: 3, sha256: 'y' }],
          artifactsSummary: summary,
        },
      },
    );
    // Only the attempt that decides the outcome is read, with the spec's limits, before its Job is deleted.
    expect(calls.outputs).toHaveLength(1);
    expect(calls.outputs[0]).toMatchObject({
      attempt: 2,
      pod: 'pod-x',
      terminationMessage: '{}',
      outputs: { result: null, artifacts: { paths: ['.'], maxFiles: 5 } },
    });
    expect(calls.created[1]?.outputs?.artifacts?.maxFiles).toBe(5);
    expect(record).toMatchObject({
      outcome: 'Failed',
      reason: 'ArtifactViolation',
      result: { big: false },
      artifacts: [{ path: 'a' }],
      artifactsSummary: summary,
    });
  }, 60_000);

  it('retries an infrastructure failure as a new attempt after the back-off', async () => {
    const started = Date.now();
    const { record, calls } = await runEvaluation([
      end('Infrastructure', { reason: 'PodDeleted', exitCode: 143 }),
      end('Succeeded'),
    ]);
    expect(record?.outcome).toBe('Succeeded');
    expect(record?.attempts.map((a) => [a.attempt, a.kind, a.reason])).toEqual([
      [1, 'Infrastructure', 'PodDeleted'],
      [2, 'Succeeded', null],
    ]);
    expect(calls.created.map((r) => r.attempt)).toEqual([1, 2]);
    expect(calls.cleaned.map((r) => r.attempt)).toEqual([1, 2]);
    expect(calls.logs.map((r) => r.attempt)).toEqual([1, 2]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  }, 60_000);

  it('gives up after spec.retries.maxAttempts infrastructure failures', async () => {
    const { record, calls } = await runEvaluation(
      [end('Infrastructure', { reason: 'Evicted' }), end('Infrastructure', { reason: 'Evicted' })],
      { spec: { retries: { maxAttempts: 2, backoffSeconds: 0 } } },
    );
    expect(record).toMatchObject({ outcome: 'InfrastructureError', reason: 'Evicted' });
    expect(calls.created).toHaveLength(2);
  }, 60_000);

  it('fails fast on a configuration error', async () => {
    const { record, calls } = await runEvaluation([
      end('Configuration', { reason: 'ErrImageNeverPull', message: 'image not present' }),
    ]);
    expect(record).toMatchObject({ outcome: 'ConfigurationError', reason: 'ErrImageNeverPull' });
    expect(calls.created).toHaveLength(1);
    expect(calls.cleaned).toHaveLength(1);
  }, 60_000);

  it('does not retry an evaluation failure unless the exit code is declared transient', async () => {
    const failed = await runEvaluation([end('Failed', { exitCode: 3, reason: 'Error' })]);
    expect(failed.record).toMatchObject({ outcome: 'Failed', exitCode: 3 });
    expect(failed.calls.created).toHaveLength(1);

    const transient = await runEvaluation([end('Failed', { exitCode: 75 }), end('Succeeded')], {
      spec: { retries: { maxAttempts: 2, backoffSeconds: 0, transientExitCodes: [75] } },
    });
    expect(transient.record?.outcome).toBe('Succeeded');
    expect(transient.calls.created).toHaveLength(2);
  }, 60_000);

  it('maps TimedOut', async () => {
    const { record } = await runEvaluation([end('TimedOut', { reason: 'DeadlineExceeded', exitCode: 137 })]);
    expect(record).toMatchObject({ outcome: 'TimedOut', reason: 'DeadlineExceeded' });
  }, 60_000);

  it('on cancellation deletes the Job, stores the log and records Cancelled', async () => {
    let status: EvaluationStatus | undefined;
    const { record, calls } = await runEvaluation(['block'], {
      whileRunning: async (workflowId) => {
        const handle = client.workflow.getHandle(workflowId);
        status = await handle.query<EvaluationStatus>('status');
        await handle.cancel();
      },
    });
    expect(status).toMatchObject({ phase: 'Running', attempt: 1, cluster: 'local' });
    // Why that cluster, as `assay status` shows it: the recorded choice's reason and candidates.
    expect(status?.placement).toEqual({
      reason: 'stub',
      candidates: [{ name: 'local', score: 1, terms: { weight: 1 } }],
      excluded: [{ name: 'b', reason: 'cordoned' }],
    });
    // Selection is told what the evaluation requests, for the clusters' per-evaluation limits and the score.
    expect(calls.selected).toHaveLength(1);
    expect(calls.selected[0]?.resources).toEqual({
      cpuMillis: expect.any(Number),
      memoryBytes: expect.any(Number),
      gpus: null,
    });
    expect(calls.selected[0]?.resources?.cpuMillis).toBeGreaterThan(0);
    expect(record).toMatchObject({ outcome: 'Cancelled' });
    expect(calls.cleaned.map((c) => c.attempt)).toEqual([1]);
    expect(calls.logs.map((c) => c.attempt)).toEqual([1]);
    expect(calls.records[0]?.outcome).toBe('Cancelled');
  }, 60_000);

  it('records a refused Job as a configuration error and still cleans up', async () => {
    const { record, calls } = await runEvaluation([], {
      createJob: () =>
        Promise.reject(
          ApplicationFailure.create({ type: errorTypes.rejected, nonRetryable: true, message: 'forbidden' }),
        ),
    });
    expect(record).toMatchObject({ outcome: 'ConfigurationError', reason: errorTypes.rejected });
    expect(calls.cleaned.map((c) => c.attempt)).toEqual([1]);
  }, 60_000);

  it('rejects a spec it cannot use (not normalised by a client) before doing anything', async () => {
    const { error, calls } = await runEvaluation([], {
      rawSpec: manifest({ resources: { memory: 256 } }),
    });
    expect(error).toBeInstanceOf(WorkflowFailedError);
    const cause = (error as WorkflowFailedError).cause;
    expect(cause).toBeInstanceOf(ApplicationFailure);
    expect((cause as ApplicationFailure).type).toBe(errorTypes.invalidSpec);
    expect((cause as ApplicationFailure).message).toContain('spec.resources.memory');
    // Not normalised: the defaults the client fills in are missing too, and named.
    expect((cause as ApplicationFailure).message).toContain('spec.timeoutSeconds');
    expect(calls.created).toHaveLength(0);
    expect(calls.records).toHaveLength(0);
  }, 60_000);
});
