/** Assay's signatures checked by an independent Standard Webhooks implementation (the `standardwebhooks` package). */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { Webhook } from 'standardwebhooks';
import { parseSigningSecrets, signWebhook, WebhookSecretError } from '../../../src/notifications/signing.js';

const secret = (): string => `whsec_${randomBytes(24).toString('base64')}`;

describe('Standard Webhooks signing', () => {
  const body = JSON.stringify({ type: 'succeeded', timestamp: '2026-11-30T18:00:00.000Z', data: { x: 1 } });

  it('signs so that an independent verifier accepts it', () => {
    const s = secret();
    const headers = signWebhook(parseSigningSecrets(s), { id: 'msg_1', timestamp: Date.now() / 1000, body });
    expect(new Webhook(s).verify(body, { ...headers })).toEqual(JSON.parse(body));
  });

  it('signs with every secret while one is rotated, and each verifies alone', () => {
    const [a, b] = [secret(), secret()];
    const headers = signWebhook(parseSigningSecrets(`${a} ${b}`), {
      id: 'msg_2',
      timestamp: Date.now() / 1000,
      body,
    });
    expect(headers['webhook-signature']?.split(' ')).toHaveLength(2);
    expect(() => new Webhook(a).verify(body, { ...headers })).not.toThrow();
    expect(() => new Webhook(b).verify(body, { ...headers })).not.toThrow();
    expect(() => new Webhook(secret()).verify(body, { ...headers })).toThrow();
  });

  it('is refused by the verifier once the body changes', () => {
    const s = secret();
    const headers = signWebhook(parseSigningSecrets(s), { id: 'msg_3', timestamp: Date.now() / 1000, body });
    expect(() => new Webhook(s).verify(`${body} `, { ...headers })).toThrow();
  });

  it('leaves the signature out without a secret', () => {
    const headers = signWebhook([], { id: 'msg_4', timestamp: 1_700_000_000.9, body });
    expect(headers).toEqual({ 'webhook-id': 'msg_4', 'webhook-timestamp': '1700000000' });
  });

  it.each([
    ['', 'empty'],
    ['secret', 'does not start with "whsec_"'],
    ['whsec_AAAAAAAAAAAAAAAAAAAAAA== other', 'secret 2 does not start with'],
    ['whsec_!!!!', 'followed by base64'],
    ['whsec_c2hvcnQ=', 'shorter than 16 bytes'],
  ])('refuses the secret %j (%s) without echoing it', (value, message) => {
    let error: unknown;
    try {
      parseSigningSecrets(value);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(WebhookSecretError);
    expect((error as Error).message).toContain(message);
    if (value.length > 8) expect((error as Error).message).not.toContain(value);
  });
});
