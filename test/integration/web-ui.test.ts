/**
 * The Temporal Web UI as an operator's window, checked in headless Chromium against the stack's UI: the workflow list
 * filtered by `AssayBatch` shows the batch and its evaluations; opening a child shows its static summary (the batch,
 * the entry and its values). Assertions are on the page's DOM.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { ulid } from 'ulid';
import { BatchClient } from '../../src/client/batch-client.js';
import { startEvaluationHarness, type EvaluationHarness } from '../support/evaluation-harness.js';
import { launchChromium } from '../support/chromium.js';
import { BUSYBOX } from './kube/cluster.js';

/** The part of a DOM element read here (the test's TypeScript has no DOM library). */
interface Anchor {
  /** The resolved address (the attribute may be relative). */
  readonly href: string;
}

const runTag = ulid().toLowerCase().slice(-8);
const team = `webui-${runTag}`;

let harness: EvaluationHarness;
let browser: Browser;

beforeAll(async () => {
  [harness, browser] = await Promise.all([
    startEvaluationHarness({ taskQueue: `assay-webui-${runTag}` }),
    launchChromium(),
  ]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
  await harness?.close();
  await harness?.kube.core.deleteNamespace({ name: `assay-${team}` }).catch(() => undefined);
});

/** How many workflows the server's visibility lists for `query`, once it lists 3 or after 60 s. */
async function visibleCount(query: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    let count = 0;
    for await (const _ of harness.client.temporal.workflow.list({ query })) count++;
    if (count >= 3 || Date.now() > deadline) return count;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

describe('Web UI', () => {
  it('filters by AssayBatch, opens a child evaluation and shows its summary', async () => {
    const ui = process.env.ASSAY_TEMPORAL_UI ?? 'http://127.0.0.1:18233';
    const batches = new BatchClient(harness.client.temporal, harness.client.taskQueue);
    const id = `ui${runTag}`;
    await batches.start({
      apiVersion: 'assay.dev/v1',
      kind: 'EvaluationBatch',
      metadata: { name: id },
      spec: {
        template: {
          spec: {
            team,
            user: 'ada',
            image: BUSYBOX,
            command: ['sh', '-c', 'true'],
            env: [{ name: 'MODEL', value: '${{ matrix.model }}' }],
            resources: { cpu: '10m', memory: '16Mi', ephemeralStorage: '16Mi' },
            retries: { maxAttempts: 1, backoffSeconds: 1 },
          },
        },
        matrix: { model: ['alpha', 'beta'] },
        maxConcurrent: 2,
      },
    });
    expect((await batches.result(id)).outcome).toBe('Succeeded');

    const page = await browser.newPage();
    try {
      const namespace = harness.client.namespace;
      const query = `AssayBatch="${id}"`;
      // Visibility is eventually consistent: wait until the server's own list answers with all three, so the page
      // is not loaded before the index caught up (the UI renders one list per load and does not poll).
      await expect(visibleCount(query)).resolves.toBe(3);
      // The list (visibility) shows the batch and both children, and nothing else.
      const child = page.locator(`a[href*="eval-${id}-1/"]`).first();
      for (let load = 1; ; load++) {
        await page.goto(`${ui}/namespaces/${namespace}/workflows?query=${encodeURIComponent(query)}`);
        try {
          await child.waitFor({ timeout: 30_000 });
          break;
        } catch (error) {
          if (load === 3) throw error;
        }
      }
      const listed = await page
        .locator('a')
        .evaluateAll((as: Anchor[]) => [
          ...new Set(as.map((a) => /\/workflows\/([^/]+)\//.exec(a.href)?.[1])),
        ]);
      expect(listed.filter((w) => w !== undefined && w !== 'start-workflow').sort()).toEqual(
        [`batch-${id}`, `eval-${id}-0`, `eval-${id}-1`].sort(),
      );
      await child.click();
      const summary = page.getByText(`batch ${id} #1: model=beta`, { exact: true }).first();
      await summary.waitFor({ timeout: 60_000 });
      expect(await summary.textContent()).toBe(`batch ${id} #1: model=beta`);
      expect(page.url()).toContain(`/workflows/eval-${id}-1/`);

      // The batch's own page carries its summary too.
      await page.goto(`${ui}/namespaces/${namespace}/workflows/batch-${id}`);
      const batchSummary = page
        .getByText(`batch ${id}: 2 evaluations (model×2) of ${BUSYBOX}`, { exact: true })
        .first();
      await batchSummary.waitFor({ timeout: 60_000 });
    } finally {
      await page.close();
    }
  }, 300_000);
});
