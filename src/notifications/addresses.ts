/**
 * The SSRF guard's address classifier (docs/notifications.md, "The SSRF guard"): which IP addresses a webhook may
 * never reach unless the operator allow-lists them. Pure and free of Node built-ins, because manifest validation
 * (`src/spec/webhook-url.ts`), which also runs inside workflow code, refuses IP literals with it.
 */

/** Why an address is refused; `public` addresses are not. */
export type AddressClass =
  'public' | 'loopback' | 'private' | 'linkLocal' | 'metadata' | 'multicast' | 'unspecified' | 'reserved';

/** An IP address as 16 bytes (IPv4 as its IPv4-mapped IPv6 form) and the family it was written in. */
export interface ParsedAddress {
  readonly family: 4 | 6;
  readonly bytes: Uint8Array;
}

function parseIpv4(text: string): Uint8Array | null {
  const parts = text.split('.');
  if (parts.length !== 4) return null;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i] ?? '';
    // Dotted decimal only: octal and hex forms are how filters get bypassed, so they are not addresses here.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    out[i] = value;
  }
  return out;
}

function parseIpv6(text: string): Uint8Array | null {
  let body = text;
  const zone = body.indexOf('%');
  if (zone >= 0) body = body.slice(0, zone);
  let tail: Uint8Array | null = null;
  const lastColon = body.lastIndexOf(':');
  if (body.includes('.')) {
    tail = parseIpv4(body.slice(lastColon + 1));
    if (tail === null) return null;
    body = `${body.slice(0, lastColon + 1)}0:0`;
  }
  const halves = body.split('::');
  if (halves.length > 2) return null;
  const group = (s: string): number[] | null => {
    if (s === '') return [];
    const out: number[] = [];
    for (const g of s.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return null;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = group(halves[0] ?? '');
  const rest = halves.length === 2 ? group(halves[1] ?? '') : [];
  if (head === null || rest === null) return null;
  const missing = 8 - head.length - rest.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null;
  const words = [...head, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...rest];
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  if (tail !== null) out.set(tail, 12);
  return out;
}

/** Parses an IPv4 (dotted decimal) or IPv6 address, brackets allowed; null when `text` is not one. */
export function parseAddress(text: string): ParsedAddress | null {
  const bare = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  const v4 = parseIpv4(bare);
  if (v4 !== null) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    bytes.set(v4, 12);
    return { family: 4, bytes };
  }
  if (!bare.includes(':')) return null;
  const v6 = parseIpv6(bare);
  return v6 === null ? null : { family: 6, bytes: v6 };
}

/** A CIDR block: a network address and a prefix length counted on the 16-byte form. */
export interface Cidr {
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/** Parses `10.1.0.0/16`, `fd00::/8` or a single address (a /32 or /128); null when `text` is none of them. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  const address = parseAddress(slash < 0 ? text : text.slice(0, slash));
  if (address === null) return null;
  const max = address.family === 4 ? 32 : 128;
  let bits = max;
  if (slash >= 0) {
    const suffix = text.slice(slash + 1);
    if (!/^[0-9]{1,3}$/.test(suffix)) return null;
    bits = Number(suffix);
    if (bits > max) return null;
  }
  return { bytes: address.bytes, bits: address.family === 4 ? bits + 96 : bits };
}

/** Whether `address` lies in `cidr`. */
export function inCidr(address: ParsedAddress, cidr: Cidr): boolean {
  for (let bit = 0; bit < cidr.bits; bit++) {
    const byte = bit >> 3;
    const mask = 0x80 >> (bit & 7);
    if (((address.bytes[byte] ?? 0) & mask) !== ((cidr.bytes[byte] ?? 0) & mask)) return false;
  }
  return true;
}

/** The refused ranges, most specific first (metadata before link-local). */
const refusedRanges: readonly [string, AddressClass][] = [
  ['169.254.169.254/32', 'metadata'],
  ['fd00:ec2::254/128', 'metadata'],
  ['0.0.0.0/8', 'unspecified'],
  ['::/128', 'unspecified'],
  ['127.0.0.0/8', 'loopback'],
  ['::1/128', 'loopback'],
  ['10.0.0.0/8', 'private'],
  ['172.16.0.0/12', 'private'],
  ['192.168.0.0/16', 'private'],
  ['100.64.0.0/10', 'private'], // carrier-grade NAT: inside somebody's network all the same
  ['fc00::/7', 'private'], // unique local
  ['169.254.0.0/16', 'linkLocal'],
  ['fe80::/10', 'linkLocal'],
  ['224.0.0.0/4', 'multicast'],
  ['ff00::/8', 'multicast'],
  ['192.0.0.0/24', 'reserved'], // IETF protocol assignments
  ['198.18.0.0/15', 'reserved'], // benchmarking
  ['240.0.0.0/4', 'reserved'], // incl. 255.255.255.255
  ['64:ff9b:1::/48', 'reserved'], // local-use NAT64
  ['100::/64', 'reserved'], // discard-only
  ['::/96', 'reserved'], // IPv4-compatible (deprecated): would otherwise smuggle any IPv4 address
];
const refusedCidrs = refusedRanges.map(([text, kind]) => {
  const cidr = parseCidr(text);
  if (cidr === null) throw new Error(`bad built-in range ${text}`);
  return [cidr, kind] as const;
});
const nat64 = parseCidr('64:ff9b::/96');

/**
 * The class of an address. IPv4-mapped (`::ffff:a.b.c.d`) and NAT64 (`64:ff9b::a.b.c.d`) IPv6 addresses are judged by
 * the IPv4 address they carry, so a refused IPv4 address cannot be reached through its IPv6 spelling.
 */
export function classifyAddress(address: ParsedAddress): AddressClass {
  let candidate = address;
  if (address.family === 6 && nat64 !== null && inCidr(address, nat64)) {
    const bytes = new Uint8Array(16);
    bytes[10] = 0xff;
    bytes[11] = 0xff;
    bytes.set(address.bytes.subarray(12), 12);
    candidate = { family: 4, bytes };
  }
  for (const [cidr, kind] of refusedCidrs) if (inCidr(candidate, cidr)) return kind;
  return 'public';
}

/** {@link classifyAddress} of a written address; null when `text` is not an IP address. */
export function classifyAddressText(text: string): AddressClass | null {
  const parsed = parseAddress(text);
  return parsed === null ? null : classifyAddress(parsed);
}

/** Human words for a refused class, used in refusal messages. */
export const addressClassWords: Record<AddressClass, string> = {
  public: 'a public address',
  loopback: 'a loopback address',
  private: 'a private address',
  linkLocal: 'a link-local address',
  metadata: 'a cloud metadata address',
  multicast: 'a multicast address',
  unspecified: 'an unspecified address',
  reserved: 'a reserved address',
};
