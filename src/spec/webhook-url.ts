/**
 * The webhook URL grammar: http or https, a DNS host or a bracketed IP literal, an optional port, no credentials, and
 * no IP literal in a range the SSRF guard refuses (docs/notifications.md, "The SSRF guard").
 * A small grammar instead of `new URL`: spec validation also runs inside workflow code.
 */
import { addressClassWords, classifyAddressText } from '../notifications/addresses.js';
import { quote } from './kubernetes-rules.js';

const webhookUrl = /^(https?):\/\/([^/?#\s]+)([/?#][^\s]*)?$/;
const webhookHost =
  /^((?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::([0-9]{1,5}))?$/;

/** A message naming what is wrong with a webhook URL, or `undefined` when it is acceptable. */
export function checkWebhookUrl(value: string): string | undefined {
  const match = webhookUrl.exec(value);
  if (!match) return `${quote(value)} is not an http(s) URL`;
  const authority = match[2] ?? '';
  // Credentials in a URL would be a secret written into the manifest; signing uses secretRef instead.
  if (authority.includes('@')) return 'must not contain credentials; sign requests with secretRef instead';
  const host = webhookHost.exec(authority);
  if (!host) return `${quote(value)} does not have a valid host`;
  const port = host[2] === undefined ? undefined : Number(host[2]);
  if (port !== undefined && (port < 1 || port > 65535)) return `${quote(value)} has an invalid port`;
  const name = host[1] ?? '';
  const kind = classifyAddressText(name);
  if (kind === null) {
    if (name.startsWith('[')) return `${quote(name)} is not a valid IP address`;
    // Resolvers read `2130706433` or `0x7f.1` as IP addresses; only dotted decimal is accepted as one.
    const last = name.split('.').pop() ?? '';
    if (/^[0-9]+$/.test(last) || /^0x/i.test(last)) {
      return `${quote(name)} is neither a DNS name nor a dotted-decimal IP address`;
    }
  } else if (kind !== 'public') {
    return `${quote(name)} is ${addressClassWords[kind]}, which webhooks may not reach (use a host name the worker's notifications.allow list names)`;
  }
  return undefined;
}
