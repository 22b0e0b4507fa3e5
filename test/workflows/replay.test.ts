/**
 * Replays the histories recorded on the real stack by `scripts/record-histories.ts` (test/workflows/histories/*.binpb:
 * one evaluation per outcome, and the janitor's): a change to a workflow that would break running ones fails here.
 * `janitor-before-uploads` is a janitor run recorded before the upload sweep (`patched('janitor-multipart-uploads')`).
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { temporal } from '@temporalio/proto';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { loadWorkflowBundle } from '../../src/workers/run.js';
import { installQuietTemporalRuntime } from '../support/temporal.js';
import { stackTestEnv } from '../support/test-env.js';

const dir = join(process.cwd(), 'test', 'workflows', 'histories');
let bundle: WorkflowBundle;

beforeAll(async () => {
  installQuietTemporalRuntime();
  bundle = await loadWorkflowBundle(stackTestEnv().ASSAY_TEST_WORKFLOW_BUNDLE);
}, 120_000);

describe('replay of recorded histories', () => {
  it('replays every recorded history without nondeterminism', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.binpb')).sort();
    // One history per outcome and path the evaluation workflow takes, and the janitor's before and after its upload
    // sweep (docs/development.md says how to re-record them).
    expect(files.map((f) => f.replace(/\.binpb$/, ''))).toEqual([
      'artifacts-collected',
      'cancelled',
      'configuration-error',
      'failed',
      'infrastructure-retried',
      'janitor-before-uploads',
      'janitor',
      'succeeded',
      'timed-out',
      'webhooks',
      'worker-killed',
    ]);
    const histories = await Promise.all(
      files.map(async (f) => ({
        workflowId: f.replace(/\.binpb$/, ''),
        history: temporal.api.history.v1.History.decode(await readFile(join(dir, f))),
      })),
    );
    const results = [];
    for await (const result of Worker.runReplayHistories({ workflowBundle: bundle }, histories)) {
      results.push({ workflowId: result.workflowId, error: result.error?.message ?? null });
    }
    expect(results).toEqual(files.map((f) => ({ workflowId: f.replace(/\.binpb$/, ''), error: null })));
  }, 120_000);
});
