/**
 * The worker's one Prometheus endpoint with the Temporal core's scrape appended: families the Assay part already has
 * are dropped from the core's part (no name, HELP or TYPE twice), and a core that does not answer leaves the Assay
 * part whole with `assay_worker_temporal_metrics_up 0`.
 */
import { createServer, type Server } from 'node:http';
import { afterAll, describe, expect, it } from '@jest/globals';
import { Counter } from 'prom-client';
import { createWorkerMetrics } from '../../../src/workers/metrics.js';
import { coreScrape, freeLoopbackPort, mergeScrapes } from '../../../src/workers/temporal-metrics.js';

/** What the Rust core's exporter serves (shape of its text: HELP, TYPE, samples per family). */
const coreText = [
  '# HELP temporal_request Count of client request successes by rpc name',
  '# TYPE temporal_request counter',
  'temporal_request{operation="PollWorkflowTaskQueue",service_name="temporal-core-sdk"} 12',
  '# HELP temporal_workflow_task_schedule_to_start_latency Schedule-to-start latency of workflow tasks',
  '# TYPE temporal_workflow_task_schedule_to_start_latency histogram',
  'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="assay",le="0.05"} 3',
  'temporal_workflow_task_schedule_to_start_latency_bucket{task_queue="assay",le="+Inf"} 4',
  'temporal_workflow_task_schedule_to_start_latency_sum{task_queue="assay"} 0.21',
  'temporal_workflow_task_schedule_to_start_latency_count{task_queue="assay"} 4',
  '# HELP assay_clash_total A name the Assay part has too',
  '# TYPE assay_clash_total counter',
  'assay_clash_total 7',
  '# HELP temporal_num_pollers Current number of pollers',
  '# TYPE temporal_num_pollers gauge',
  'temporal_num_pollers{poller_type="workflow_task"} 2',
  '# HELP temporal_num_pollers Current number of pollers',
  '# TYPE temporal_num_pollers gauge',
  'temporal_num_pollers{poller_type="activity_task"} 5',
  'target_info{service_name="temporal-core-sdk"} 1',
  '',
].join('\n');

/** The names each `# HELP` / `# TYPE` line and each sample names, with how often. */
function repeatedComments(text: string): string[] {
  const seen = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^# (HELP|TYPE) (\S+)/.exec(line);
    if (m !== null) seen.set(`${m[1]} ${m[2]}`, (seen.get(`${m[1]} ${m[2]}`) ?? 0) + 1);
  }
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

describe('mergeScrapes', () => {
  const assay = [
    '# HELP assay_clash_total Assay’s own',
    '# TYPE assay_clash_total counter',
    'assay_clash_total 1',
    '# HELP assay_worker_temporal_metrics_up up',
    '# TYPE assay_worker_temporal_metrics_up gauge',
    'assay_worker_temporal_metrics_up 1',
    '',
  ].join('\n');

  it('appends the core families after the Assay part, dropping a family the Assay part names', () => {
    const merged = mergeScrapes(assay, coreText);
    expect(merged.startsWith(assay)).toBe(true);
    expect(merged).toContain('temporal_request{operation="PollWorkflowTaskQueue"');
    expect(merged).toContain('temporal_workflow_task_schedule_to_start_latency_count{task_queue="assay"} 4');
    expect(merged).toContain('target_info{service_name="temporal-core-sdk"} 1');
    expect(merged.split('\n').filter((l) => l.startsWith('assay_clash_total'))).toEqual([
      'assay_clash_total 1',
    ]);
    expect(merged).not.toContain('A name the Assay part has too');
    expect(repeatedComments(merged)).toEqual([]);
  });

  it('keeps one HELP/TYPE for a family the core repeats, with the samples of both', () => {
    const merged = mergeScrapes(assay, coreText);
    expect(merged.split('\n').filter((l) => l.startsWith('temporal_num_pollers'))).toEqual([
      'temporal_num_pollers{poller_type="workflow_task"} 2',
      'temporal_num_pollers{poller_type="activity_task"} 5',
    ]);
  });

  it('drops a core family whose sample names collide with an Assay sample (x vs x_total)', () => {
    const merged = mergeScrapes(
      '# TYPE assay_things counter\nassay_things_total 3\n',
      '# TYPE assay_things_total gauge\nassay_things_total 9\n# TYPE temporal_x gauge\ntemporal_x 1\n',
    );
    expect(merged).toBe(
      '# TYPE assay_things counter\nassay_things_total 3\n# TYPE temporal_x gauge\ntemporal_x 1\n',
    );
  });

  it('leaves the Assay part as it is when the core has nothing', () => {
    expect(mergeScrapes(assay, '')).toBe(assay);
    expect(mergeScrapes('', '# TYPE temporal_x gauge\ntemporal_x 1')).toBe(
      '# TYPE temporal_x gauge\ntemporal_x 1\n',
    );
  });
});

describe('the worker endpoint with the core scrape', () => {
  const servers: Server[] = [];
  const metrics: ReturnType<typeof createWorkerMetrics>[] = [];
  afterAll(async () => {
    await Promise.all(metrics.map((m) => m.close()));
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  });

  /** A stand-in for the core's exporter on a loopback port. */
  async function fakeCore(body: string, status = 200): Promise<string> {
    const server = createServer((_req, res) => res.writeHead(status).end(body));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = server.address();
    if (typeof address !== 'object' || address === null) throw new Error('no port');
    return `http://127.0.0.1:${address.port}/metrics`;
  }

  it('serves the Assay metrics and the core metrics on one GET /metrics, no family twice, up 1', async () => {
    const m = createWorkerMetrics({
      defaultMetrics: false,
      temporalCore: coreScrape(await fakeCore(coreText)),
    });
    metrics.push(m);
    new Counter({ name: 'assay_clash_total', help: 'Assay’s own', registers: [m.registry] }).inc();
    const port = await m.serve(0, '127.0.0.1');
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toContain('assay_worker_temporal_metrics_up 1');
    expect(text).toContain('temporal_workflow_task_schedule_to_start_latency_bucket');
    expect(text.split('\n').filter((l) => l.startsWith('assay_clash_total'))).toEqual([
      'assay_clash_total 1',
    ]);
    expect(repeatedComments(text)).toEqual([]);
  });

  it('serves the Assay part with up 0 when the core answers 500 or not at all', async () => {
    const failing = createWorkerMetrics({
      defaultMetrics: false,
      temporalCore: coreScrape(await fakeCore('boom', 500)),
    });
    const closed = createWorkerMetrics({
      defaultMetrics: false,
      temporalCore: coreScrape(`http://127.0.0.1:${await freeLoopbackPort()}/metrics`, 500),
    });
    metrics.push(failing, closed);
    for (const m of [failing, closed]) {
      const text = await m.scrape();
      expect(text).toContain('assay_worker_temporal_metrics_up 0');
      expect(text).not.toContain('temporal_request');
    }
  });

  it('has no up gauge without a core scrape', async () => {
    const m = createWorkerMetrics({ defaultMetrics: false });
    expect(await m.scrape()).not.toContain('assay_worker_temporal_metrics_up');
  });
});
