/**
 * Sends one webhook request safely (docs/notifications.md, "The SSRF guard"): the host is resolved and every address
 * it resolves to is checked against the refused ranges and the operator's allow-list before anything is sent; the
 * connection then goes to the address that was checked (a pinned `lookup`, so a second resolution cannot rebind it);
 * redirects are not followed; at most `maxResponseBytes` of the body are read; the whole request has one deadline.
 */
import { lookup as dnsLookup } from 'node:dns/promises';
import type { LookupAddress } from 'node:dns';
import { isIP } from 'node:net';
import { Agent, request } from 'undici';
import {
  addressClassWords,
  classifyAddress,
  inCidr,
  parseAddress,
  parseCidr,
  type Cidr,
} from './addresses.js';

/** What the guard and the sender apply: the worker config's `notifications` section, less the schedule. */
export interface SendPolicy {
  readonly allow: readonly string[];
  readonly allowHttp: boolean;
  readonly timeoutSeconds: number;
  readonly maxResponseBytes: number;
}

/** Resolves a host name to every address it has (the system resolver by default). */
export type Resolve = (host: string) => Promise<LookupAddress[]>;

const systemResolve: Resolve = (host) => dnsLookup(host, { all: true, order: 'verbatim' });

/** The guard's answer: the address to connect to, or why nothing may be sent there. */
export type Destination =
  | { ok: true; url: URL; address: string; family: 4 | 6 }
  | { ok: false; refused: true; reason: string; address: string | null }
  | { ok: false; refused: false; reason: string; address: null };

interface CompiledAllow {
  hosts: Set<string>;
  cidrs: Cidr[];
}

function compileAllow(allow: readonly string[]): CompiledAllow {
  const hosts = new Set<string>();
  const cidrs: Cidr[] = [];
  for (const entry of allow) {
    const cidr = parseCidr(entry);
    if (cidr !== null) cidrs.push(cidr);
    else hosts.add(entry.toLowerCase());
  }
  return { hosts, cidrs };
}

/**
 * Checks `rawUrl` against the policy and resolves its host. Refused (`refused: true`, not worth retrying): not
 * http(s), credentials, a refused address that the allow-list does not cover, `http` without permission. Not
 * refused but failed (`refused: false`, worth retrying): the host does not resolve.
 */
export async function checkDestination(
  rawUrl: string,
  policy: Pick<SendPolicy, 'allow' | 'allowHttp'>,
  resolve: Resolve = systemResolve,
): Promise<Destination> {
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    return { ok: false, refused: true, reason: 'the URL is not valid', address: null };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    return { ok: false, refused: true, reason: `scheme ${url.protocol} is not http(s)`, address: null };
  }
  if (url.username !== '' || url.password !== '') {
    return { ok: false, refused: true, reason: 'the URL carries credentials', address: null };
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  const allow = compileAllow(policy.allow);
  const hostAllowed = allow.hosts.has(host);
  let addresses: LookupAddress[];
  if (isIP(host) !== 0) {
    addresses = [{ address: host, family: isIP(host) }];
  } else {
    try {
      addresses = await resolve(host);
    } catch (err) {
      return {
        ok: false,
        refused: false,
        reason: `${host} does not resolve: ${errorText(err)}`,
        address: null,
      };
    }
    if (addresses.length === 0) {
      return { ok: false, refused: false, reason: `${host} resolves to no address`, address: null };
    }
  }
  let everyAddressAllowed = true;
  for (const { address } of addresses) {
    const parsed = parseAddress(address);
    if (parsed === null) {
      return {
        ok: false,
        refused: true,
        reason: `${host} resolves to ${address}, not an IP address`,
        address,
      };
    }
    const listed = allow.cidrs.some((cidr) => inCidr(parsed, cidr));
    everyAddressAllowed &&= listed;
    const kind = classifyAddress(parsed);
    // Every address must pass: a name resolving partly into a private network is refused as a whole.
    if (kind !== 'public' && !listed && !hostAllowed) {
      const via = host === address ? '' : `${host} resolves to ${address}, `;
      return {
        ok: false,
        refused: true,
        reason: `${via}${address} is ${addressClassWords[kind]} and not in notifications.allow`,
        address,
      };
    }
  }
  const first = addresses[0];
  if (first === undefined) throw new Error('unreachable: no address');
  if (url.protocol === 'http:' && !policy.allowHttp && !hostAllowed && !everyAddressAllowed) {
    return {
      ok: false,
      refused: true,
      reason: 'http is refused: use https, or allow-list the destination (notifications.allow / allowHttp)',
      address: first.address,
    };
  }
  return { ok: true, url, address: first.address, family: first.family === 6 ? 6 : 4 };
}

/** What one request came to. */
export type SendResult =
  | { kind: 'refused'; reason: string; address: string | null }
  | { kind: 'unresolved'; reason: string }
  | { kind: 'response'; status: number; retryAfter: string | null; latencyMs: number; address: string }
  | { kind: 'error'; reason: string; timedOut: boolean; latencyMs: number; address: string };

/** The pinned lookup: whatever name is asked, the checked address is the answer. */
function pinnedLookup(address: string, family: 4 | 6) {
  return (
    _host: string,
    options: { all?: boolean },
    callback: (err: Error | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    if (options.all === true) callback(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

/**
 * Checks the destination, then POSTs `body` with `headers` to the checked address. Never throws for what the network
 * or the receiver does: every end is a {@link SendResult}.
 */
export async function sendWebhook(
  message: { url: string; headers: Record<string, string>; body: string },
  policy: SendPolicy,
  resolve: Resolve = systemResolve,
): Promise<SendResult> {
  const destination = await checkDestination(message.url, policy, resolve);
  if (!destination.ok) {
    return destination.refused
      ? { kind: 'refused', reason: destination.reason, address: destination.address }
      : { kind: 'unresolved', reason: destination.reason };
  }
  const timeoutMs = policy.timeoutSeconds * 1000;
  const agent = new Agent({
    connect: { lookup: pinnedLookup(destination.address, destination.family), timeout: timeoutMs },
    headersTimeout: timeoutMs,
    bodyTimeout: timeoutMs,
    connections: 1,
    pipelining: 0,
  });
  const started = performance.now();
  const elapsed = (): number => Math.round((performance.now() - started) * 10) / 10;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const response = await request(destination.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': 'assay-webhooks/1', ...message.headers },
      body: message.body,
      dispatcher: agent,
      signal,
    });
    const latencyMs = elapsed();
    // Only the status matters; a little of the body is read so the connection ends cleanly, the rest is dropped.
    let read = 0;
    try {
      for await (const chunk of response.body) {
        read += (chunk as Buffer).length;
        if (read >= policy.maxResponseBytes) break;
      }
    } catch {
      // A body cut short does not change the status the receiver gave.
    } finally {
      response.body.destroy();
    }
    const retryAfter = response.headers['retry-after'];
    return {
      kind: 'response',
      status: response.statusCode,
      retryAfter: typeof retryAfter === 'string' ? retryAfter : null,
      latencyMs,
      address: destination.address,
    };
  } catch (err) {
    const timedOut =
      signal.aborted ||
      (err instanceof Error &&
        ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT'].includes(
          (err as { code?: string }).code ?? '',
        ));
    return {
      kind: 'error',
      reason: timedOut ? `no response within ${policy.timeoutSeconds} s` : errorText(err),
      timedOut,
      latencyMs: elapsed(),
      address: destination.address,
    };
  } finally {
    await agent.destroy().catch(() => undefined);
  }
}

/** Seconds a `Retry-After` value asks for (delta-seconds or an HTTP date); null when absent or unreadable. */
export function retryAfterSeconds(value: string | null, now: number = Date.now()): number | null {
  if (value === null) return null;
  const trimmed = value.trim();
  if (/^[0-9]+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return null;
  return Math.max(0, (date - now) / 1000);
}

function errorText(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as { code?: string }).code;
    const cause = err.cause instanceof Error ? `: ${err.cause.message}` : '';
    return `${code !== undefined ? `${code} ` : ''}${err.message}${cause}`;
  }
  return String(err);
}
