/**
 * The stack's trace viewer (Assay's own, served by Jaeger's query extension from src/stack/jaeger/ui) as a person
 * sees it, in headless Chromium: a three-span trace (a root, its child in another service, an error grandchild)
 * posted as OTLP/JSON to the stack's endpoint (`ASSAY_TEST_OTLP_ENDPOINT`) is drawn at `$ASSAY_TRACES_UI/trace/<id>` as a waterfall in
 * tree order with the error flagged, a row expands to its tags and logs, and `/?service=<svc>` lists the trace.
 * Assertions are on the page's DOM.
 */
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from '../support/chromium.js';
import { waitFor } from '../support/wait-for.js';

/** The part of a DOM element read here (the test's TypeScript has no DOM library). */
interface Element {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}

function stackVariable(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: run the test through the stack-backed Jest global setup`);
  return value;
}

const hex = (bytes: number): string => randomBytes(bytes).toString('hex');
const runTag = hex(4);
const services = { api: `assay-trace-ui-api-${runTag}`, worker: `assay-trace-ui-worker-${runTag}` };
const traceId = hex(16);
const spans = { root: hex(8), child: hex(8), grandchild: hex(8) };

/** One OTLP/JSON span of the test trace; times are milliseconds after `t0`. */
function otlpSpan(
  spanId: string,
  parentSpanId: string | undefined,
  name: string,
  t0: bigint,
  fromMs: number,
  toMs: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    traceId,
    spanId,
    ...(parentSpanId ? { parentSpanId } : {}),
    name,
    kind: 1,
    startTimeUnixNano: String(t0 + BigInt(fromMs) * 1_000_000n),
    endTimeUnixNano: String(t0 + BigInt(toMs) * 1_000_000n),
    ...extra,
  };
}

function resourceSpans(service: string, list: Record<string, unknown>[]): Record<string, unknown> {
  return {
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ scope: { name: 'trace-ui.test' }, spans: list }],
  };
}

/** Posts the trace and waits until the query API answers it with all three spans. */
async function postTrace(): Promise<void> {
  const endpoint = stackVariable('ASSAY_TEST_OTLP_ENDPOINT');
  const ui = stackVariable('ASSAY_TRACES_UI');
  const t0 = BigInt(Date.now() - 1_000) * 1_000_000n;
  const body = {
    resourceSpans: [
      resourceSpans(services.api, [
        otlpSpan(spans.root, undefined, 'evaluation.run', t0, 0, 120, {
          attributes: [{ key: 'assay.team', value: { stringValue: 'trace-ui' } }],
        }),
      ]),
      resourceSpans(services.worker, [
        otlpSpan(spans.child, spans.root, 'job.execute', t0, 10, 110),
        otlpSpan(spans.grandchild, spans.child, 'pod.wait', t0, 20, 80, {
          status: { code: 2, message: 'pod failed' },
          events: [
            {
              timeUnixNano: String(t0 + 70_000_000n),
              name: 'pod.failed',
              attributes: [{ key: 'reason', value: { stringValue: 'OOMKilled' } }],
            },
          ],
        }),
      ]),
    ],
  };
  const exported = await fetch(`${endpoint}/v1/traces`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(10_000),
  });
  expect(exported.status).toBe(200);
  await exported.body?.cancel();
  await waitFor(
    async () => {
      const res = await fetch(`${ui}/api/traces/${traceId}`, { signal: AbortSignal.timeout(5_000) });
      if (!res.ok) {
        await res.body?.cancel();
        return undefined;
      }
      const answer = (await res.json()) as { data?: { spans: unknown[] }[] };
      return answer.data?.[0]?.spans.length === 3;
    },
    { timeoutMs: 20_000, what: `trace ${traceId} with 3 spans in the trace store` },
  );
}

/** Loads a viewer page and waits until its script has rendered it (`#app[data-state]` other than loading). */
async function open(page: Page, path: string): Promise<string> {
  await page.goto(`${stackVariable('ASSAY_TRACES_UI')}${path}`);
  await page.locator('#app:not([data-state="loading"])').waitFor({ timeout: 30_000 });
  return (await page.locator('#app').getAttribute('data-state')) ?? '';
}

let browser: Browser;

beforeAll(async () => {
  [browser] = await Promise.all([launchChromium(), postTrace()]);
}, 180_000);

afterAll(async () => {
  await browser?.close();
});

describe('trace viewer', () => {
  it('draws the trace as a waterfall in tree order, with the error flagged and rows that expand', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 600 } });
    try {
      expect(await open(page, `/trace/${traceId}`)).toBe('loaded');
      const rows = await page.locator('[data-span-id]').evaluateAll((els: Element[]) =>
        els.map((e) => ({
          span: e.getAttribute('data-span-id'),
          depth: e.getAttribute('data-depth'),
          service: e.getAttribute('data-service'),
          operation: e.getAttribute('data-operation'),
          error: e.getAttribute('data-error'),
        })),
      );
      expect(rows).toEqual([
        { span: spans.root, depth: '0', service: services.api, operation: 'evaluation.run', error: 'false' },
        { span: spans.child, depth: '1', service: services.worker, operation: 'job.execute', error: 'false' },
        {
          span: spans.grandchild,
          depth: '2',
          service: services.worker,
          operation: 'pod.wait',
          error: 'true',
        },
      ]);
      const header = (await page.locator('main').textContent()) ?? '';
      expect(header).toContain(traceId);
      expect(await page.locator('h1').textContent()).toContain('evaluation.run');
      expect(header).toMatch(/2 services · 3 spans · 120\.0ms/);
      // The error row is drawn red, the others in their service's colour.
      const colours = await page
        .locator('[data-span-id] .bar')
        .evaluateAll((els: Element[]) => els.map((e) => e.getAttribute('style')));
      expect(colours[2]).toContain('#d73a49');
      expect(colours[0]).not.toContain('#d73a49');

      // A click expands the row's tags and logs, a second click folds them.
      const errorRow = page.locator(`[data-span-id="${spans.grandchild}"]`);
      await errorRow.click();
      const details = page.locator(`[data-details-for="${spans.grandchild}"]`);
      const text = (await details.textContent()) ?? '';
      expect(text).toContain('otel.status_code= ERROR');
      expect(text).toContain('otel.status_description= pod failed');
      expect(text).toMatch(/log at \+70\.0ms.*event= pod\.failed.*reason= OOMKilled/);
      await page
        .screenshot({ path: join(await testResults(), 'trace-ui.png'), fullPage: true })
        .catch(() => undefined);
      await errorRow.click();
      expect(await details.count()).toBe(0);
    } finally {
      await page.close();
    }
  });

  it('says so for a trace the store does not hold', async () => {
    const page = await browser.newPage();
    try {
      const missing = hex(16);
      expect(await open(page, `/trace/${missing}`)).toBe('not-found');
      expect(await page.locator('#app').textContent()).toBe(`trace ${missing} not found`);
    } finally {
      await page.close();
    }
  });

  it('lists the services and, for the one selected, the trace with its root span', async () => {
    const page = await browser.newPage();
    try {
      expect(await open(page, `/?service=${encodeURIComponent(services.worker)}`)).toBe('loaded');
      const listed = await page
        .locator('.services [data-service]')
        .evaluateAll((els: Element[]) => els.map((e) => e.getAttribute('data-service')));
      expect(listed).toEqual(expect.arrayContaining([services.api, services.worker]));
      const row = page.locator(`tr[data-trace-id="${traceId}"]`);
      expect(await row.count()).toBe(1);
      const cells = await row.locator('td').allTextContents();
      expect(cells.slice(0, 3)).toEqual([`evaluation.run ${traceId}`, '3', '120.0ms']);
      await row.locator('a').click();
      await page.waitForURL(`**/trace/${traceId}`);
      await page.locator('#app[data-state="loaded"]').waitFor();
      expect(await page.locator('[data-span-id]').count()).toBe(3);
    } finally {
      await page.close();
    }
  });
});

async function testResults(): Promise<string> {
  const dir = join(process.cwd(), 'test-results');
  await mkdir(dir, { recursive: true });
  return dir;
}
