/**
 * Standard Webhooks signing (docs/notifications.md, "Signing"): `webhook-signature` is `v1,<base64 HMAC-SHA256 of
 * "<id>.<timestamp>.<body>">`, one per active secret, separated by spaces, so a receiver rotating its secret accepts
 * either. Secrets are `whsec_` + base64 of the key bytes.
 */
import { createHmac } from 'node:crypto';

const secretPrefix = 'whsec_';

/** A signing secret that is not in Standard Webhooks form; the message never contains the secret. */
export class WebhookSecretError extends Error {
  readonly code = 'WebhookSecretInvalid';
  constructor(message: string) {
    super(message);
    this.name = 'WebhookSecretError';
  }
}

/**
 * The keys of a Secret value holding one or more `whsec_…` secrets separated by whitespace (every one signs: secret
 * rotation). Throws {@link WebhookSecretError} when a secret is not `whsec_` + base64 or when there is none.
 */
export function parseSigningSecrets(value: string): Buffer[] {
  const parts = value.split(/\s+/).filter((p) => p !== '');
  if (parts.length === 0) throw new WebhookSecretError('the signing secret is empty');
  return parts.map((part, i) => {
    if (!part.startsWith(secretPrefix)) {
      throw new WebhookSecretError(`signing secret ${i + 1} does not start with "${secretPrefix}"`);
    }
    const encoded = part.slice(secretPrefix.length);
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded) || encoded.length % 4 === 1) {
      throw new WebhookSecretError(`signing secret ${i + 1} is not "${secretPrefix}" followed by base64`);
    }
    const key = Buffer.from(encoded, 'base64');
    if (key.length < 16) throw new WebhookSecretError(`signing secret ${i + 1} is shorter than 16 bytes`);
    return key;
  });
}

/** The Standard Webhooks headers of one delivery attempt. */
export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  /** Absent when the endpoint has no secret. */
  'webhook-signature'?: string;
}

/** Signs `body` for message `id` at `timestamp` (seconds since the epoch) with every key. */
export function signWebhook(
  keys: readonly Buffer[],
  message: { id: string; timestamp: number; body: string },
): SignedHeaders {
  const timestamp = String(Math.floor(message.timestamp));
  const headers: SignedHeaders = { 'webhook-id': message.id, 'webhook-timestamp': timestamp };
  if (keys.length > 0) {
    const signed = `${message.id}.${timestamp}.${message.body}`;
    headers['webhook-signature'] = keys
      .map((key) => `v1,${createHmac('sha256', key).update(signed).digest('base64')}`)
      .join(' ');
  }
  return headers;
}
