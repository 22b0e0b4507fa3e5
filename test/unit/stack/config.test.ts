import { describe, expect, it } from '@jest/globals';
import { envBoolean, loadStackConfig } from '../../../src/stack/config.js';
import { StackConfigError } from '../../../src/stack/errors.js';

describe('envBoolean', () => {
  it.each([
    ['1', true],
    ['TRUE', true],
    [' yes ', true],
    ['on', true],
    ['0', false],
    ['false', false],
    ['No', false],
    ['off', false],
    ['', undefined],
    [undefined, undefined],
  ])('parses %p as %p', (input, expected) => {
    expect(envBoolean.parse(input)).toBe(expected);
  });

  it('rejects anything else instead of reading it as false', () => {
    expect(envBoolean.safeParse('nope').success).toBe(false);
  });
});

describe('loadStackConfig', () => {
  it('has loopback-friendly defaults', () => {
    const config = loadStackConfig({ ASSAY_CACHE_DIR: '/tmp/c' });
    expect(config).toMatchObject({
      cacheRoot: '/tmp/c',
      temporalPort: 17233,
      temporalUiPort: 18233,
      s3Port: 17070,
      otlpGrpcPort: 14317,
      otlpHttpPort: 14318,
      tracesUiPort: 16686,
      temporalNamespace: 'default',
      goBinary: 'go',
      components: undefined,
      userTemporalAddress: undefined,
    });
  });

  it('reads ports, the component subset and the user’s own servers', () => {
    const config = loadStackConfig({
      ASSAY_STACK_TEMPORAL_PORT: '27233',
      ASSAY_STACK_COMPONENTS: 'temporal, s3,',
      TEMPORAL_ADDRESS: 'temporal.internal:7233',
      ASSAY_S3_ENDPOINT: '',
    });
    expect(config.temporalPort).toBe(27233);
    expect(config.components).toEqual(['temporal', 's3']);
    expect(config.userTemporalAddress).toBe('temporal.internal:7233');
    // An empty variable counts as unset.
    expect(config.userS3Endpoint).toBeUndefined();
  });

  it('names every invalid variable', () => {
    let error: unknown;
    try {
      loadStackConfig({ ASSAY_STACK_S3_PORT: 'abc', ASSAY_STACK_TEMPORAL_PORT: '70000' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(StackConfigError);
    const issues = (error as StackConfigError).issues;
    expect(issues).toHaveLength(2);
    expect(issues.join('\n')).toMatch(/ASSAY_STACK_S3_PORT: "abc" is not a TCP port/);
    expect(issues.join('\n')).toMatch(/ASSAY_STACK_TEMPORAL_PORT: "70000" is not a TCP port/);
  });
});
