/**
 * Notification webhooks on the real stack (docs/notifications.md): real Temporal, Kubernetes and S3, Assay's workers
 * in this process, and real HTTP receivers on 127.0.0.1 that verify every signature with the independent
 * `standardwebhooks` package. Two worker sets: A allow-lists `localhost` with a compressed retry schedule and a 5 s
 * request timeout; B allow-lists nothing, so every loopback destination must be refused with nothing sent (each of
 * its listeners counts connections). Traffic goes to 127.0.0.1 only.
 *
 * Two evaluations run concurrently, each with several endpoints, one per case; each case's test awaits the delivery
 * workflows it needs and asserts on what its receiver saw.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ulid } from 'ulid';
import { InvalidEvaluationSpecError } from '../../src/client/assay-client.js';
import { buildNamespace } from '../../src/activities/job-manifest.js';
import { parseEvaluationJob } from '../../src/spec/evaluation-job.js';
import { evaluationWorkflowId } from '../../src/spec/names.js';
import { storageKeys } from '../../src/spec/storage-keys.js';
import {
  evaluationRecordSchema,
  type EvaluationInput,
  type EvaluationRecord,
} from '../../src/spec/record.js';
import { waitFor } from '../support/wait-for.js';
import {
  deliveryWorkflowId,
  webhookPayloadSchema,
  type DeliveryLog,
} from '../../src/notifications/payload.js';
import {
  manifestBuilder,
  newId,
  startEvaluationHarness,
  type EvaluationHarness,
} from '../support/evaluation-harness.js';
import { runAssay } from '../support/cli.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.js';
import { sendWebhook } from '../../src/notifications/sender.js';
import { readDeliveries } from '../../src/client/notifications.js';
import { BUSYBOX } from './kube/cluster.js';

const runTag = ulid().toLowerCase().slice(-8);
const team = `wh-${runTag}`;
const namespace = `assay-${team}`;
const secretName = 'hooks';
const secret = (): string => `whsec_${randomBytes(24).toString('base64')}`;
const [s1, s2a, s2b] = [secret(), secret(), secret()];

let a: EvaluationHarness;
let b: EvaluationHarness;
let receiverA: WebhookReceiver;
let receiverPrivate: WebhookReceiver;
let receiverLiteral: WebhookReceiver;

const manifest = manifestBuilder({
  team,
  defaults: {
    image: BUSYBOX,
    command: ['sh', '-c', 'sleep 1'],
    resources: { cpu: '100m', memory: '64Mi', ephemeralStorage: '64Mi' },
    timeoutSeconds: 60,
  },
});

/** Evaluation A's endpoints, by index. */
const endpointsA = [
  'ordered',
  'flaky',
  'throttled',
  'hang',
  'gone',
  'rotation',
  'missing',
  'rejecting',
] as const;
type CaseA = (typeof endpointsA)[number];
let evaluationA: Promise<{ id: string; record: EvaluationRecord; closedAt: number }>;
let evaluationB: Promise<{ id: string; outcome: string }>;

async function deliveryLog(h: EvaluationHarness, evaluationId: string, index: number): Promise<DeliveryLog> {
  return (await h.client.temporal.workflow
    .getHandle(deliveryWorkflowId(evaluationId, index))
    .result()) as DeliveryLog;
}

async function logOfA(name: CaseA): Promise<DeliveryLog> {
  const { id } = await evaluationA;
  return deliveryLog(a, id, endpointsA.indexOf(name));
}

beforeAll(async () => {
  [a, b, receiverA, receiverPrivate, receiverLiteral] = await Promise.all([
    startEvaluationHarness({
      taskQueue: `assay-it-wha-${runTag}`,
      notifications: { allow: ['localhost'], retrySchedule: [0, 0.2, 0.5, 1], timeoutSeconds: 5 },
    }),
    startEvaluationHarness({
      taskQueue: `assay-it-whb-${runTag}`,
      // http allowed: a refusal can only come from the address.
      notifications: { allow: [], allowHttp: true, retrySchedule: [0, 0.2] },
    }),
    startWebhookReceiver(),
    startWebhookReceiver(),
    startWebhookReceiver(),
  ]);
  await a.kube.core.createNamespace({ body: buildNamespace(namespace, team) });
  await a.kube.core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: secretName }, stringData: { one: s1, rotating: `${s2a} ${s2b}` } },
  });
  const base = `http://localhost:${receiverA.port}`;
  receiverA.script('/ordered', [{ status: 204 }], [s1]);
  receiverA.script('/flaky', [{ status: 500 }, { status: 500 }, { status: 200 }], [s1]);
  receiverA.script('/throttled', [{ status: 429, headers: { 'retry-after': '2' } }, { status: 200 }], [s1]);
  receiverA.script('/hang', ['hang', { status: 200 }], [s1]);
  receiverA.script('/gone', [{ status: 410 }]);
  receiverA.script('/rotation', [{ status: 200 }], [s2a, s2b]);
  receiverA.script('/rejecting', [{ status: 400 }]);
  const ref = (key: string) => ({ name: secretName, key });
  const webhooks: Record<CaseA, Record<string, unknown>> = {
    ordered: { events: ['queued', 'started', 'succeeded'], secretRef: ref('one') },
    flaky: { secretRef: ref('one') },
    throttled: { secretRef: ref('one') },
    hang: { secretRef: ref('one') },
    gone: { events: ['started', 'succeeded'] },
    rotation: { secretRef: ref('rotating') },
    missing: { secretRef: { name: 'no-such-secret', key: 'k' } },
    rejecting: { events: ['started'] },
  };
  const idA = newId('wha');
  const started = await a.client.start(
    manifest({ webhooks: endpointsA.map((name) => ({ url: `${base}/${name}`, ...webhooks[name] })) }),
    { idempotencyKey: idA },
  );
  evaluationA = a.client.result(started.evaluationId).then(async (record) => {
    // When the evaluation workflow closed, on the Temporal server's clock (this machine's).
    const described = await a.client.temporal.workflow.getHandle(evaluationWorkflowId(idA)).describe();
    return { id: idA, record, closedAt: described.closeTime?.getTime() ?? Number.NaN };
  });

  // Evaluation B skips the client's validation (it refuses IP literals such as 127.0.0.1 up front), as a spec from
  // an older client or a direct start would: the delivery's own guard must still refuse.
  const idB = newId('whb');
  const parsed = parseEvaluationJob(manifest({ webhooks: [{ url: 'https://placeholder.example/' }] }));
  if (!parsed.ok) throw new Error('test manifest invalid');
  const spec = JSON.parse(JSON.stringify(parsed.value)) as { spec: { webhooks: { url: string }[] } };
  spec.spec.webhooks = [
    { ...spec.spec.webhooks[0], url: `http://localhost:${receiverPrivate.port}/private` },
    { ...spec.spec.webhooks[0], url: `http://127.0.0.1:${receiverLiteral.port}/literal` },
  ];
  const input: EvaluationInput = {
    evaluationId: idB,
    spec: spec,
    submittedAt: new Date().toISOString(),
  };
  await b.client.temporal.workflow.start('evaluation', {
    taskQueue: `assay-it-whb-${runTag}`,
    workflowId: evaluationWorkflowId(idB),
    args: [input],
  });
  evaluationB = b.client.temporal.workflow
    .getHandle(evaluationWorkflowId(idB))
    .result()
    .then((r) => ({ id: idB, outcome: (r as { outcome: string }).outcome }));
}, 120_000);

afterAll(async () => {
  await Promise.allSettled([a?.close(), b?.close()]);
  await Promise.allSettled([receiverA?.close(), receiverPrivate?.close(), receiverLiteral?.close()]);
  await a?.kube.core.deleteNamespace({ name: namespace }).catch(() => undefined);
}, 60_000);

describe('notification webhooks on the real stack', () => {
  it('delivers queued, started and succeeded in order, signed, each with its own id', async () => {
    const log = await logOfA('ordered');
    const got = receiverA.requests('/ordered');
    const bodies = got.map((r) => webhookPayloadSchema.parse(JSON.parse(r.body)));
    expect(bodies.map((p) => p.type)).toEqual(['queued', 'started', 'succeeded']);
    expect(got.every((r) => r.verifiedBy.length === 1)).toBe(true);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(3);
    const { id, record } = await evaluationA;
    expect(record.outcome).toBe('Succeeded');
    expect(bodies[2]?.data).toMatchObject({
      evaluationId: id,
      team,
      user: 'tester',
      outcome: 'Succeeded',
      exitCode: 0,
      attempt: 1,
      recordKey: storageKeys.record(id),
    });
    expect(log.events.map((e) => e.state)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(log.finished).toBe(true);
  }, 120_000);

  it('retries 500, 500, 200 with the same webhook-id and body', async () => {
    const log = await logOfA('flaky');
    const got = receiverA.requests('/flaky');
    expect(got).toHaveLength(3);
    expect(new Set(got.map((r) => r.headers['webhook-id'])).size).toBe(1);
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    expect(got.every((r) => r.verifiedBy.length === 1)).toBe(true);
    expect(log.events[0]?.attempts.map((t) => t.status)).toEqual([500, 500, 200]);
    expect(log.events[0]?.state).toBe('delivered');
  }, 120_000);

  it('honours 429 with Retry-After: 2 (the next try ≥ 2 s later)', async () => {
    const log = await logOfA('throttled');
    const got = receiverA.requests('/throttled');
    expect(got).toHaveLength(2);
    expect(got[1]!.at - got[0]!.at).toBeGreaterThanOrEqual(2000);
    expect(log.events[0]?.attempts.map((t) => t.outcome)).toEqual(['retry', 'delivered']);
  }, 120_000);

  it('times a hanging receiver out and retries, while the outcome and record were written without waiting', async () => {
    const log = await logOfA('hang');
    const got = receiverA.requests('/hang');
    expect(got).toHaveLength(2);
    expect(got[0]!.headers['webhook-id']).toBe(got[1]!.headers['webhook-id']);
    expect(log.events[0]?.attempts[0]).toMatchObject({ outcome: 'retry', status: null });
    expect(log.events[0]?.attempts[0]?.error).toContain('no response within 5 s');
    const { id, record, closedAt } = await evaluationA;
    // The evaluation had written its record and closed while the hung request was still open.
    expect(got[0]!.closedAt).toBeDefined();
    expect(closedAt).toBeLessThan(got[0]!.closedAt!);
    expect(Date.parse(record.timings.finishedAt!)).toBeLessThan(got[0]!.at);
    await expect(a.store.getBytes(storageKeys.record(id))).resolves.toBeDefined();
  }, 120_000);

  it('disables an endpoint that answers 410: later events are not sent', async () => {
    const log = await logOfA('gone');
    expect(receiverA.requests('/gone')).toHaveLength(1);
    expect(log.disabled).toBe(true);
    expect(log.events.map((e) => [e.type, e.state])).toEqual([
      ['started', 'disabled'],
      ['succeeded', 'skipped'],
    ]);
  }, 120_000);

  it('signs with both secrets while one is rotated, each verifying on its own', async () => {
    await logOfA('rotation');
    const [got] = receiverA.requests('/rotation');
    expect(got?.verifiedBy).toEqual([0, 1]);
    expect(got?.headers['webhook-signature']?.split(' ')).toHaveLength(2);
  }, 120_000);

  it('records a missing Secret as a failed delivery with a clear reason; nothing is sent, the evaluation succeeds', async () => {
    const log = await logOfA('missing');
    expect(receiverA.requests('/missing')).toHaveLength(0);
    expect(log.events[0]).toMatchObject({ type: 'succeeded', state: 'deadLetter' });
    expect(log.events[0]?.reason).toContain(`Secret ${namespace}/no-such-secret not found`);
    expect(log.events[0]?.attempts).toHaveLength(1);
    expect((await evaluationA).record.outcome).toBe('Succeeded');
    const stored = JSON.parse(
      (await a.store.getBytes(`evaluations/${(await evaluationA).id}/notifications/6.json`)).toString(),
    ) as DeliveryLog;
    expect(stored.events[0]?.state).toBe('deadLetter');
  }, 120_000);

  it('lists every dead letter in the record: one of the run (400 to started) and one after it (missing Secret)', async () => {
    const { id } = await evaluationA;
    await Promise.all([logOfA('missing'), logOfA('rejecting')]);
    // The record is written before the delivery of `succeeded` ends: read it until the later dead letter is in.
    const letters = await waitFor(
      async () => {
        const record = evaluationRecordSchema.parse(
          JSON.parse((await a.store.getBytes(storageKeys.record(id))).toString()),
        );
        const list = record.notifications?.deadLetters ?? [];
        return list.length >= 2 ? list : undefined;
      },
      { timeoutMs: 60_000, what: 'both dead letters in the record' },
    );
    expect(letters.map((l) => [l.webhook, l.event])).toEqual([
      [endpointsA.indexOf('missing'), 'succeeded'],
      [endpointsA.indexOf('rejecting'), 'started'],
    ]);
    expect(letters[0]?.reason).toContain(`Secret ${namespace}/no-such-secret not found`);
    expect(letters[1]).toMatchObject({
      messageId: `msg_${id}_started_1`,
      url: expect.stringMatching(/\/rejecting$/),
    });
    expect(letters[1]?.reason).toContain('400');
    // The rest of the record is as the evaluation wrote it.
    expect((await evaluationA).record.outcome).toBe('Succeeded');
  }, 120_000);

  it('refuses 127.0.0.1 and a name resolving to loopback without the allow-list: nothing connects', async () => {
    const { id, outcome } = await evaluationB;
    const [privateName, literal] = await Promise.all([deliveryLog(b, id, 0), deliveryLog(b, id, 1)]);
    expect(outcome).toBe('Succeeded');
    expect(privateName.events[0]).toMatchObject({ state: 'deadLetter' });
    expect(privateName.events[0]?.reason).toContain('localhost resolves to 127.0.0.1');
    expect(privateName.events[0]?.reason).toContain('loopback address and not in notifications.allow');
    expect(literal.events[0]?.reason).toContain('127.0.0.1 is a loopback address');
    expect(privateName.events[0]?.attempts.map((t) => t.outcome)).toEqual(['refused']);
    expect(receiverPrivate.connections()).toBe(0);
    expect(receiverLiteral.connections()).toBe(0);
  }, 120_000);

  it('refuses an IP literal in a refused range at validation, naming the field', async () => {
    const attempt = a.client.start(manifest({ webhooks: [{ url: 'http://127.0.0.1:9/x' }] }), {
      idempotencyKey: newId('whv'),
    });
    await expect(attempt).rejects.toBeInstanceOf(InvalidEvaluationSpecError);
    await expect(attempt).rejects.toThrow(/spec\.webhooks\[0\]\.url.*loopback/);
  });

  it('`assay notifications ID` shows every try (status, time, latency) and the dead letters', async () => {
    const { id } = await evaluationA;
    await Promise.all(endpointsA.map((name) => logOfA(name)));
    const table = await runAssay(['notifications', id]);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/webhook 1: http:\/\/localhost:\d+\/flaky/);
    expect(table.stdout).toContain('500 retry');
    expect(table.stdout).toContain('200 delivered');
    expect(table.stdout).toMatch(/\d+ ms/);
    expect(table.stdout).toContain(
      `dead letter: succeeded (msg_${id}_succeeded_1): failed: Secret ${namespace}/no-such-secret not found`,
    );
    expect(table.stdout).toContain('2 dead letters\n');
    // The JSON form's data, read in this process (one CLI start is slow enough on a shared machine).
    const list = await readDeliveries(a.client.temporal, a.store, id);
    expect(list.map((d) => d.source)).toEqual(endpointsA.map(() => 'storage'));
    expect(list[1]?.log?.events[0]?.attempts.map((t) => t.status)).toEqual([500, 500, 200]);
  }, 120_000);

  it('connects to the address the guard checked, whatever a later lookup would say (no rebinding)', async () => {
    // A name only the guard's resolver knows, answering 127.0.0.1: were the connection to resolve the name again, it
    // would fail (the system resolver does not know it); it reaches the receiver only through the pinned address.
    const name = `pinned-${runTag}.invalid`;
    receiverA.script('/pinned', [{ status: 202 }]);
    const sent = await sendWebhook(
      { url: `http://${name}:${receiverA.port}/pinned`, headers: {}, body: '{}' },
      { allow: ['127.0.0.1/32'], allowHttp: false, timeoutSeconds: 5, maxResponseBytes: 64 },
      () => Promise.resolve([{ address: '127.0.0.1', family: 4 }]),
    );
    expect(sent).toMatchObject({ kind: 'response', status: 202, address: '127.0.0.1' });
    expect(receiverA.requests('/pinned')[0]?.headers.host).toBe(`${name}:${receiverA.port}`);
  });

  it('does not follow redirects', async () => {
    receiverA.script('/redirect', [
      { status: 307, headers: { location: `http://localhost:${receiverA.port}/target` } },
    ]);
    const sent = await sendWebhook(
      { url: `http://localhost:${receiverA.port}/redirect`, headers: {}, body: '{}' },
      { allow: ['localhost'], allowHttp: false, timeoutSeconds: 5, maxResponseBytes: 64 },
    );
    expect(sent).toMatchObject({ kind: 'response', status: 307 });
    expect(receiverA.requests('/target')).toHaveLength(0);
  });
});
