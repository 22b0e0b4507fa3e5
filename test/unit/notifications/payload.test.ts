import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { webhookPayloadJsonSchema, webhookPayloadSchema } from '../../../src/notifications/payload.js';
import { webhookEndpointsOf } from '../../../src/notifications/endpoints.js';
import { terminalEventOf } from '../../../src/workflows/notify.js';

describe('the webhook payload', () => {
  it('has a committed JSON Schema that is up to date', () => {
    const committed: unknown = JSON.parse(
      readFileSync(new URL('../../../docs/notifications.schema.json', import.meta.url), 'utf8'),
    );
    expect(committed).toEqual(webhookPayloadJsonSchema());
  });

  it('stays far below 20 kB', () => {
    const payload = webhookPayloadSchema.parse({
      type: 'failed',
      timestamp: '2026-11-30T18:00:00.000Z',
      data: {
        evaluationId: 'x'.repeat(54),
        workflowId: `eval-${'x'.repeat(54)}`,
        team: 't'.repeat(40),
        user: 'u'.repeat(40),
        phase: 'Completed',
        outcome: 'Failed',
        reason: 'r'.repeat(200),
        exitCode: 1,
        attempt: 10,
        maxAttempts: 10,
        nextAttemptAt: null,
        recordKey: `evaluations/${'x'.repeat(54)}/record.json`,
        webUiUrl: `https://temporal.example.com/namespaces/default/workflows/eval-${'x'.repeat(54)}`,
      },
    });
    expect(Buffer.byteLength(JSON.stringify(payload))).toBeLessThan(2048);
  });
});

describe('the endpoints of a normalised spec', () => {
  it('keeps each entry with its index, events and secret reference', () => {
    const endpoints = webhookEndpointsOf({
      spec: {
        webhooks: [
          {
            url: 'https://a.example/x',
            events: ['started', 'succeeded'],
            secretRef: { name: 's', key: 'k' },
          },
          { url: 'https://b.example/y' },
        ],
      },
    });
    expect(endpoints).toEqual([
      {
        index: 0,
        url: 'https://a.example/x',
        events: ['started', 'succeeded'],
        secretRef: { name: 's', key: 'k' },
      },
      {
        index: 1,
        url: 'https://b.example/y',
        events: ['succeeded', 'failed', 'timedOut', 'cancelled', 'configurationError', 'infrastructureError'],
        secretRef: null,
      },
    ]);
    expect(webhookEndpointsOf({ spec: {} })).toEqual([]);
    expect(terminalEventOf('TimedOut')).toBe('timedOut');
  });
});
