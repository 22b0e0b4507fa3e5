/**
 * CIDR blocks as NetworkPolicy `ipBlock`s take them. Pure (no `node:net`): the spec's schemas are bundled into the
 * workflow code, which has no Node built-ins.
 */

/** A parsed block: the address as a bigint, its family's width and the prefix length. */
export interface Cidr {
  readonly family: 4 | 6;
  readonly address: bigint;
  readonly prefix: number;
}

const ipv4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function parseIpv4(text: string): bigint | null {
  const m = ipv4.exec(text);
  if (m === null) return null;
  let value = 0n;
  for (const part of m.slice(1)) {
    if (part.length > 1 && part.startsWith('0')) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIpv6(text: string): bigint | null {
  if (!/^[0-9a-fA-F:]+$/.test(text) || text.length < 2) return null;
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const groups = (part: string): string[] | null => {
    if (part === '') return [];
    const list = part.split(':');
    return list.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g)) ? list : null;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (head === null || tail === null) return null;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  let value = 0n;
  for (const g of [...head, ...Array<string>(missing).fill('0'), ...tail]) value = (value << 16n) | BigInt(`0x${g}`);
  return value;
}

/** The block of `text` (`10.0.0.0/8`, `fd00::/8`), or null when it is not one. */
export function parseCidr(text: string): Cidr | null {
  const slash = text.indexOf('/');
  if (slash < 0) return null;
  const addressText = text.slice(0, slash);
  const prefixText = text.slice(slash + 1);
  if (!/^\d{1,3}$/.test(prefixText)) return null;
  const prefix = Number(prefixText);
  const v4 = parseIpv4(addressText);
  if (v4 !== null) return prefix <= 32 ? { family: 4, address: v4, prefix } : null;
  const v6 = parseIpv6(addressText);
  if (v6 !== null) return prefix <= 128 ? { family: 6, address: v6, prefix } : null;
  return null;
}

const width = (c: Cidr): number => (c.family === 4 ? 32 : 128);

/** The block's first address with the host bits cleared. */
function network(c: Cidr, prefix = c.prefix): bigint {
  const hostBits = BigInt(width(c) - prefix);
  return (c.address >> hostBits) << hostBits;
}

/** Whether every address of `inner` lies in `outer`. */
export function cidrContains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && network(outer) === network(inner, outer.prefix);
}

/** Why `text` is not a usable CIDR block, or null when it is. */
export function checkCidr(text: string): string | null {
  return parseCidr(text) === null
    ? `${JSON.stringify(text)} is not a CIDR block: write an address and a prefix length, e.g. 10.0.0.0/8 or 192.0.2.7/32`
    : null;
}

/** Link-local blocks (cloud metadata services live there): never reachable through a user's egress rule. */
export const linkLocalBlocks = ['169.254.0.0/16', 'fe80::/10'] as const;

/** The link-local blocks a user's egress block would include, for its `ipBlock.except`. */
export function linkLocalExcept(cidr: string): string[] {
  const block = parseCidr(cidr);
  if (block === null) return [];
  return linkLocalBlocks.filter((ll) => {
    const local = parseCidr(ll)!;
    return cidrContains(block, local);
  });
}
