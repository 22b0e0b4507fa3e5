import { describe, expect, it } from '@jest/globals';
import {
  classifyAddressText,
  inCidr,
  parseAddress,
  parseCidr,
  type AddressClass,
} from '../../../src/notifications/addresses.js';

describe('the SSRF address classifier', () => {
  it.each<[string, AddressClass]>([
    ['8.8.8.8', 'public'],
    ['1.1.1.1', 'public'],
    ['2606:4700:4700::1111', 'public'],
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['fd12:3456::1', 'private'],
    ['fc00::1', 'private'],
    ['169.254.169.254', 'metadata'],
    ['fd00:ec2::254', 'metadata'],
    ['169.254.1.1', 'linkLocal'],
    ['fe80::1', 'linkLocal'],
    ['fe80::1%eth0', 'linkLocal'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['0.0.0.0', 'unspecified'],
    ['::', 'unspecified'],
    ['255.255.255.255', 'reserved'],
    // The IPv6 spellings of refused IPv4 addresses are refused alike.
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'metadata'],
    ['64:ff9b::10.0.0.1', 'private'],
    ['64:ff9b::8.8.8.8', 'public'],
    ['::127.0.0.1', 'reserved'],
    ['[::1]', 'loopback'],
  ])('%s is %s', (address, kind) => {
    expect(classifyAddressText(address)).toBe(kind);
  });

  it.each([
    'localhost',
    '127.1',
    '0x7f.0.0.1',
    '0177.0.0.1',
    '2130706433',
    '1.2.3.256',
    ':::',
    '1::2::3',
    'g::1',
  ])('%s is not an address it accepts', (text) => {
    expect(parseAddress(text)).toBeNull();
  });

  it('matches CIDR blocks of both families', () => {
    const block = parseCidr('10.1.0.0/16');
    const v6 = parseCidr('fd00::/8');
    const one = parseCidr('127.0.0.1');
    expect(block && v6 && one).not.toBeNull();
    const at = (text: string) => parseAddress(text)!;
    expect(inCidr(at('10.1.200.3'), block!)).toBe(true);
    expect(inCidr(at('10.2.0.1'), block!)).toBe(false);
    expect(inCidr(at('fd12::1'), v6!)).toBe(true);
    expect(inCidr(at('fe80::1'), v6!)).toBe(false);
    expect(inCidr(at('127.0.0.1'), one!)).toBe(true);
    expect(inCidr(at('127.0.0.2'), one!)).toBe(false);
    expect(parseCidr('10.0.0.0/33')).toBeNull();
    expect(parseCidr('hooks.internal')).toBeNull();
  });
});
