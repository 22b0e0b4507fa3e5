import { describe, expect, it } from '@jest/globals';
import { loadAdmissionConfig, readAdmissionTls } from '../../../src/admission/config.js';

const noFile = (path: string): string => {
  throw new Error(`ENOENT: no such file, open '${path}'`);
};

describe('admission configuration', () => {
  it("defaults to the local stack's address, port and certificate", () => {
    const config = loadAdmissionConfig({}, {}, noFile);
    expect(config).toEqual({ host: '127.0.0.1', port: 18443, logLevel: 'info', teamDefaults: { teams: {} } });
    const read: string[] = [];
    readAdmissionTls(config, { ASSAY_CACHE_DIR: '/cache' }, (path) => {
      read.push(path);
      return Buffer.from('pem');
    });
    expect(read).toEqual([
      '/cache/stack/admission/pki/admission.crt',
      '/cache/stack/admission/pki/admission.key',
    ]);
  });

  it('overlays the file with the environment, and the environment with flags', () => {
    const file = 'port: 9443\nhost: 0.0.0.0\ntls: { certFile: /f/tls.crt, keyFile: /f/tls.key }\n';
    const config = loadAdmissionConfig(
      { config: '/etc/assay/admission.yaml', tlsKey: '/flag/tls.key' },
      { ASSAY_ADMISSION_PORT: '10443', ASSAY_LOG_LEVEL: 'debug' },
      () => file,
    );
    expect(config).toEqual({
      host: '0.0.0.0',
      port: 10443,
      tls: { certFile: '/f/tls.crt', keyFile: '/flag/tls.key' },
      logLevel: 'debug',
      teamDefaults: { teams: {} },
    });
  });

  it('reads team defaults from the file, naming every invalid field', () => {
    const file =
      'teamDefaults:\n  default: { priority: low }\n' +
      '  teams:\n    ml-research: { priority: high, timeoutSeconds: 7200, labels: { cost-center: cc-1 } }\n';
    expect(loadAdmissionConfig({ config: '/a.yaml' }, {}, () => file).teamDefaults).toEqual({
      default: { priority: 'low' },
      teams: { 'ml-research': { priority: 'high', timeoutSeconds: 7200, labels: { 'cost-center': 'cc-1' } } },
    });
    const bad =
      'teamDefaults:\n  teams:\n    ml-research: { priority: urgent, timeoutSeconds: 0, labels: { cost-center: "a b" } }\n' +
      '    Bad_Team: {}\n';
    expect(() => loadAdmissionConfig({ config: '/a.yaml' }, {}, () => bad)).toThrow(
      /teamDefaults\.teams\.ml-research\.priority: .*\n.*teamDefaults\.teams\.ml-research\.timeoutSeconds: .*\n.*teamDefaults\.teams\.ml-research\.labels\.cost-center: .*\n.*teamDefaults\.teams\.Bad_Team/s,
    );
  });

  it('names every invalid field', () => {
    expect(() =>
      loadAdmissionConfig(
        { port: 'https' },
        { ASSAY_ADMISSION_CONFIG: '/c.yaml' },
        () => 'tls: { certFile: "" }\nextra: 1\n',
      ),
    ).toThrow(/port: .*\n.*tls\.certFile: .*\n.*tls\.keyFile: .*\n.*extra/s);
    expect(() => loadAdmissionConfig({ port: '70000' }, {}, noFile)).toThrow(/port: Too big/);
    expect(() => loadAdmissionConfig({ config: '/missing.yaml' }, {}, noFile)).toThrow(
      'cannot read the admission config /missing.yaml: ENOENT',
    );
  });

  it('names the field and file of an unreadable certificate, with a hint for the local stack', () => {
    const local = loadAdmissionConfig({}, {}, noFile);
    expect(() =>
      readAdmissionTls(local, { ASSAY_CACHE_DIR: '/cache' }, (p) => Buffer.from(noFile(p))),
    ).toThrow(
      "tls.certFile: cannot read /cache/stack/admission/pki/admission.crt: ENOENT: no such file, open '/cache/stack/admission/pki/admission.crt' (the local stack generates it: npm run stack -- up)",
    );
    const given = loadAdmissionConfig({ tlsCert: '/a.crt', tlsKey: '/a.key' }, {}, noFile);
    expect(() =>
      readAdmissionTls(given, {}, (p) => (p === '/a.crt' ? Buffer.from('pem') : Buffer.from(noFile(p)))),
    ).toThrow(/^tls\.keyFile: cannot read \/a\.key: ENOENT[^(]*$/);
  });
});
