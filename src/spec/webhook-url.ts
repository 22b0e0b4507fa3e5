/**
 * The webhook URL grammar: http or https, a DNS host or a bracketed IP literal, an optional port, no credentials.
 * A small grammar instead of `new URL`: spec validation also runs inside workflow code.
 */
import { quote } from './kubernetes-rules.js';

const webhookUrl = /^(https?):\/\/([^/?#\s]+)([/?#][^\s]*)?$/;
const webhookHost =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::([0-9]{1,5}))?$/;

/** A message naming what is wrong with a webhook URL, or `undefined` when it is acceptable. */
export function checkWebhookUrl(value: string): string | undefined {
  const match = webhookUrl.exec(value);
  if (!match) return `${quote(value)} is not an http(s) URL`;
  const authority = match[2] ?? '';
  // Credentials in a URL would be a secret written into the manifest; signing uses secretRef instead.
  if (authority.includes('@')) return 'must not contain credentials; sign requests with secretRef instead';
  const host = webhookHost.exec(authority);
  if (!host) return `${quote(value)} does not have a valid host`;
  const port = host[1] === undefined ? undefined : Number(host[1]);
  if (port !== undefined && (port < 1 || port > 65535)) return `${quote(value)} has an invalid port`;
  return undefined;
}
