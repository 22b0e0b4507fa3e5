import { describe, expect, it } from '@jest/globals';
import { applyStackEnv, mergeEnvs, renderExports, shellQuote } from '../../../src/stack/env.js';

describe('renderExports', () => {
  it('prints sorted, single-quoted export lines', () => {
    const env = mergeEnvs([
      { vars: { TEMPORAL_ADDRESS: '127.0.0.1:17233', TEMPORAL_NAMESPACE: 'default' } },
      { vars: { ASSAY_S3_ENDPOINT: 'http://127.0.0.1:17070' } },
    ]);
    expect(renderExports(env)).toBe(
      [
        "export ASSAY_S3_ENDPOINT='http://127.0.0.1:17070'",
        "export TEMPORAL_ADDRESS='127.0.0.1:17233'",
        "export TEMPORAL_NAMESPACE='default'",
        '',
      ].join('\n'),
    );
  });

  it('prepends PATH entries to the PATH of the shell that evaluates them', () => {
    const env = mergeEnvs([
      { vars: {}, pathPrepend: ['/c/bin', '/c/kube'] },
      { vars: {}, pathPrepend: ['/c/bin'] },
    ]);
    expect(renderExports(env)).toBe(`export PATH='/c/bin:/c/kube'"\${PATH:+:$PATH}"\n`);
  });

  it('prints nothing for an empty environment', () => {
    expect(renderExports(mergeEnvs([]))).toBe('');
  });
});

describe('shellQuote', () => {
  it('survives quotes, dollars and spaces', () => {
    expect(shellQuote("it's $HOME `x`")).toBe(`'it'\\''s $HOME \`x\`'`);
  });
});

describe('mergeEnvs', () => {
  it('lets a later component override a variable', () => {
    expect(mergeEnvs([{ vars: { A: '1', B: '1' } }, { vars: { B: '2' } }]).vars).toEqual({ A: '1', B: '2' });
  });
});

describe('applyStackEnv', () => {
  it('sets variables and prepends only PATH entries that are missing', () => {
    const target: Record<string, string | undefined> = { PATH: '/usr/bin:/c/bin', KEEP: 'x' };
    applyStackEnv({ vars: { TEMPORAL_ADDRESS: 'a:1' }, pathPrepend: ['/c/kube', '/c/bin'] }, target);
    expect(target).toEqual({ PATH: '/c/kube:/usr/bin:/c/bin', KEEP: 'x', TEMPORAL_ADDRESS: 'a:1' });
  });
});
