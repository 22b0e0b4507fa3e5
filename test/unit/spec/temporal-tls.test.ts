import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { TemporalTlsConfigError, temporalTlsOptions } from '../../../src/spec/temporal-tls.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'temporal-tls-'));
  await writeFile(join(dir, 'tls.crt'), 'CERT');
  await writeFile(join(dir, 'tls.key'), 'KEY');
  await writeFile(join(dir, 'ca.crt'), 'CA');
});
afterAll(async () => rm(dir, { recursive: true, force: true }));

describe('temporalTlsOptions', () => {
  it('is plaintext without any setting, or with TEMPORAL_TLS=false', () => {
    expect(temporalTlsOptions({})).toEqual({});
    expect(temporalTlsOptions({ TEMPORAL_TLS: 'false' })).toEqual({});
  });

  it('TEMPORAL_TLS=true: TLS with the system roots and an optional server name', () => {
    expect(temporalTlsOptions({ TEMPORAL_TLS: 'true' })).toEqual({ tls: {} });
    expect(temporalTlsOptions({ TEMPORAL_TLS: '1', TEMPORAL_TLS_SERVER_NAME: 'temporal' })).toEqual({
      tls: { serverNameOverride: 'temporal' },
    });
  });

  it('a client certificate implies TLS; the CA is used when its file exists', () => {
    const env = {
      TEMPORAL_TLS_CERT: join(dir, 'tls.crt'),
      TEMPORAL_TLS_KEY: join(dir, 'tls.key'),
      TEMPORAL_TLS_CA: join(dir, 'ca.crt'),
    };
    expect(temporalTlsOptions(env)).toEqual({
      tls: {
        serverRootCACertificate: Buffer.from('CA'),
        clientCertPair: { crt: Buffer.from('CERT'), key: Buffer.from('KEY') },
      },
    });
    expect(temporalTlsOptions({ ...env, TEMPORAL_TLS_CA: join(dir, 'absent.crt') }).tls).not.toHaveProperty(
      'serverRootCACertificate',
    );
  });

  it('refuses a certificate without its key, a bad boolean and an unreadable file, naming the variable', () => {
    expect(() => temporalTlsOptions({ TEMPORAL_TLS_CERT: join(dir, 'tls.crt') })).toThrow(/TEMPORAL_TLS_KEY/);
    expect(() => temporalTlsOptions({ TEMPORAL_TLS: 'maybe' })).toThrow(TemporalTlsConfigError);
    expect(() =>
      temporalTlsOptions({ TEMPORAL_TLS_CERT: join(dir, 'nope'), TEMPORAL_TLS_KEY: join(dir, 'tls.key') }),
    ).toThrow(/TEMPORAL_TLS_CERT: cannot read/);
  });
});
