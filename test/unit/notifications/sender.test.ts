/** The SSRF guard's decisions, with a resolver standing in for DNS (no request is sent here). */
import { describe, expect, it } from '@jest/globals';
import { checkDestination, retryAfterSeconds, type Resolve } from '../../../src/notifications/sender.js';
import { notificationsConfigSchema } from '../../../src/spec/notifications-config.js';
import { outcomeOfStatus } from '../../../src/activities/notifications.js';

const resolvesTo =
  (...addresses: string[]): Resolve =>
  () =>
    Promise.resolve(addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })));
const strict = { allow: [], allowHttp: false };

describe('the SSRF guard', () => {
  it('lets a public https destination through, pinned to the address it checked', async () => {
    const d = await checkDestination('https://hooks.example.com/x', strict, resolvesTo('93.184.216.34'));
    expect(d).toMatchObject({ ok: true, address: '93.184.216.34', family: 4 });
  });

  it('refuses a name that resolves to loopback, naming both', async () => {
    const d = await checkDestination('https://evil.example.com/', strict, resolvesTo('127.0.0.1'));
    expect(d).toMatchObject({ ok: false, refused: true, address: '127.0.0.1' });
    expect(!d.ok && d.reason).toContain(
      'evil.example.com resolves to 127.0.0.1, 127.0.0.1 is a loopback address',
    );
  });

  it('refuses a name when any of its addresses is refused', async () => {
    const d = await checkDestination(
      'https://mixed.example.com/',
      strict,
      resolvesTo('93.184.216.34', '10.0.0.5'),
    );
    expect(d).toMatchObject({ ok: false, refused: true, address: '10.0.0.5' });
  });

  it.each([
    ['http://169.254.169.254/latest/meta-data', 'cloud metadata'],
    ['https://[fd00:ec2::254]/', 'cloud metadata'],
    ['https://[::ffff:127.0.0.1]/', 'loopback'],
    ['https://0.0.0.0/', 'unspecified'],
    ['https://224.0.0.1/', 'multicast'],
    ['https://169.254.3.4/', 'link-local'],
  ])('refuses the literal %s (%s) without resolving anything', async (url, words) => {
    const d = await checkDestination(url, strict, () => Promise.reject(new Error('no lookup expected')));
    expect(d.ok).toBe(false);
    expect(!d.ok && d.reason).toContain(words);
  });

  it('lets an allow-listed CIDR or host through, http included', async () => {
    const cidr = { allow: ['10.1.0.0/16'], allowHttp: false };
    expect(await checkDestination('http://hooks.internal/', cidr, resolvesTo('10.1.4.4'))).toMatchObject({
      ok: true,
    });
    expect(await checkDestination('http://hooks.internal/', cidr, resolvesTo('10.2.4.4'))).toMatchObject({
      ok: false,
    });
    const host = { allow: ['hooks.internal'], allowHttp: false };
    expect(await checkDestination('http://HOOKS.internal:8080/', host, resolvesTo('10.9.9.9'))).toMatchObject(
      {
        ok: true,
        address: '10.9.9.9',
      },
    );
    expect(await checkDestination('http://other.internal/', host, resolvesTo('10.9.9.9'))).toMatchObject({
      ok: false,
    });
  });

  it('requires https unless allowHttp or the allow-list says otherwise', async () => {
    const d = await checkDestination('http://hooks.example.com/', strict, resolvesTo('93.184.216.34'));
    expect(d).toMatchObject({ ok: false, refused: true });
    expect(!d.ok && d.reason).toContain('http is refused');
    expect(
      await checkDestination(
        'http://hooks.example.com/',
        { allow: [], allowHttp: true },
        resolvesTo('93.184.216.34'),
      ),
    ).toMatchObject({ ok: true });
  });

  it('refuses credentials and other schemes; a name that does not resolve is worth a retry', async () => {
    expect(await checkDestination('https://a:b@hooks.example.com/', strict)).toMatchObject({
      ok: false,
      refused: true,
    });
    expect(await checkDestination('file:///etc/passwd', strict)).toMatchObject({ ok: false, refused: true });
    const gone = await checkDestination('https://nowhere.example/', strict, () =>
      Promise.reject(new Error('ENOTFOUND')),
    );
    expect(gone).toMatchObject({ ok: false, refused: false });
  });
});

describe('responses', () => {
  it.each([
    [200, 'delivered'],
    [204, 'delivered'],
    [301, 'retry'],
    [400, 'rejected'],
    [404, 'rejected'],
    [408, 'retry'],
    [410, 'gone'],
    [429, 'retry'],
    [500, 'retry'],
    [503, 'retry'],
  ])('%i means %s', (status, outcome) => {
    expect(outcomeOfStatus(status)).toBe(outcome);
  });

  it('reads Retry-After as seconds or as a date', () => {
    expect(retryAfterSeconds('2')).toBe(2);
    expect(retryAfterSeconds(new Date(1_000_000 + 30_000).toUTCString(), 1_000_000)).toBe(30);
    expect(retryAfterSeconds('soon')).toBeNull();
    expect(retryAfterSeconds(null)).toBeNull();
  });
});

describe('the notifications config', () => {
  it('defaults to the Standard Webhooks schedule, https only, 15 s', () => {
    const config = notificationsConfigSchema.parse(undefined);
    expect(config).toMatchObject({ allow: [], allowHttp: false, timeoutSeconds: 15 });
    expect(config.retrySchedule).toEqual([0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]);
  });

  it('names the field of a bad allow-list entry', () => {
    const result = notificationsConfigSchema.safeParse({ allow: ['10.0.0.0/8', 'not a host!'] });
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['allow', 1]);
    expect(result.error?.issues[0]?.message).toContain('neither a CIDR');
  });
});
