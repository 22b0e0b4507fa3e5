/**
 * Replays the histories recorded on the real stack by `scripts/record-histories.ts` (test/workflows/histories/*.binpb:
 * one evaluation per outcome, and the janitor's): a change to a workflow that would break running ones fails here.
 * `janitor-before-uploads` is a janitor run recorded before the upload sweep (`patched('janitor-multipart-uploads')`).
 * `histories/` holds them as recorded with the tracing interceptors installed (docs/observability.md), from a traced
 * client; `histories/before-tracing/` the same runs recorded before, which evaluations started then still need, and
 * `histories/before-reselection/` those recorded before an evaluation could move between clusters (`moved` is one
 * that did: its first attempt's cluster had no worker). `split-first-task` is not recorded by the script: it is a
 * real history whose first workflow task the worker completed with the cluster choice's marker alone (the code went
 * on in a second task), with its memo patch marker moved into the first task and renamed `executor-memo-early`, as
 * today's code records it — such a split must replay (src/workflows/evaluation.ts, `memoDecidedEarly`).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { temporal } from '@temporalio/proto';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { Resource } from '@opentelemetry/resources';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { loadWorkflowBundle } from '../../src/workers/run.js';
import { tracingSinks } from '../../src/telemetry/temporal.js';
import { installQuietTemporalRuntime } from '../support/temporal.js';
import { stackTestEnv } from '../support/test-env.js';

const dir = join(process.cwd(), 'test', 'workflows', 'histories');
let bundle: WorkflowBundle;

beforeAll(async () => {
  installQuietTemporalRuntime();
  bundle = await loadWorkflowBundle(stackTestEnv().ASSAY_TEST_WORKFLOW_BUNDLE);
}, 120_000);

const evaluations = [
  'artifacts-collected',
  'cancelled',
  'configuration-error',
  'failed',
  'infrastructure-retried',
  'succeeded',
  'timed-out',
  'webhooks',
  'worker-killed',
];

describe.each([
  ['with the tracing interceptors', dir, [...evaluations, 'moved', 'split-first-task', 'janitor']],
  ['before re-selection', join(dir, 'before-reselection'), evaluations],
  ['before tracing', join(dir, 'before-tracing'), [...evaluations, 'janitor', 'janitor-before-uploads']],
])('replay of recorded histories (%s)', (_, dir, expected) => {
  it('replays every recorded history without nondeterminism', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.binpb')).sort();
    // One history per outcome and path the evaluation workflow takes, and the janitor's before and after its upload
    // sweep (docs/development.md says how to re-record them).
    expect(files.map((f) => f.replace(/\.binpb$/, '')).sort()).toEqual([...expected].sort());
    const histories = await Promise.all(
      files.map(async (f) => ({
        workflowId: f.replace(/\.binpb$/, ''),
        history: temporal.api.history.v1.History.decode(await readFile(join(dir, f))),
      })),
    );
    const results = [];
    for await (const result of Worker.runReplayHistories(
      // The tracing interceptors' sink, as the workers register it (it is not called during replay).
      {
        workflowBundle: bundle,
        sinks: tracingSinks({ spanProcessor: new NoopSpanProcessor(), resource: Resource.empty() }),
      },
      histories,
    )) {
      results.push({ workflowId: result.workflowId, error: result.error?.message ?? null });
    }
    expect(results).toEqual(files.map((f) => ({ workflowId: f.replace(/\.binpb$/, ''), error: null })));
  }, 120_000);
});
