import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import {
  evaluationJobOrThrow,
  InvalidEvaluationSpecError,
  parseEvaluationJob,
  parseEvaluationSpec,
  specDefaults,
  specLimits,
} from '../../../src/spec/index.js';
import { expectIssues, expectValid, manifestWith, minimalManifest, withField } from './manifest-helpers.js';

const example = (name: string): unknown =>
  parseYaml(readFileSync(new URL(`../../../examples/${name}`, import.meta.url), 'utf8'));

/** The messages reported at one path. */
function messagesAt(input: unknown, path: string): string[] {
  return expectIssues(input)
    .filter((issue) => issue.path === path)
    .map((issue) => issue.message);
}

describe('valid manifests', () => {
  it('fills every default into the minimal manifest', () => {
    expect(expectValid(minimalManifest())).toEqual({
      apiVersion: 'assay.dev/v1',
      kind: 'EvaluationJob',
      metadata: { name: 'unit-test' },
      spec: {
        team: 'ml',
        user: 'alice',
        image: 'python:3.12',
        env: [],
        resources: {
          cpu: '1',
          memory: '1Gi',
          ephemeralStorage: '2Gi',
          limits: { cpu: '1', memory: '1Gi', ephemeralStorage: '2Gi' },
        },
        timeoutSeconds: 3600,
        priority: 'normal',
        retries: { maxAttempts: 3, backoffSeconds: 10, transientExitCodes: [] },
        webhooks: [],
        cluster: {},
        network: 'none',
        security: {},
        retentionDays: 30,
      },
    });
  });

  it('makes metadata and its name optional, for assay run', () => {
    const job = expectValid(withField(minimalManifest(), 'metadata', undefined));
    expect(job.metadata).toEqual({});
  });

  it('parses the minimal and full examples', () => {
    expect(expectValid(example('minimal.yaml')).metadata.name).toBe('hello');
    const full = expectValid(example('full.yaml'));
    expect(full.spec.resources).toEqual({
      cpu: '1500m',
      memory: '8Gi',
      ephemeralStorage: '20Gi',
      gpu: { count: 1, type: 'nvidia-a100' },
      limits: { cpu: '4', memory: '16Gi', ephemeralStorage: '40Gi' },
    });
    expect(full.spec.env).toEqual([
      { name: 'LOG_LEVEL', value: 'info' },
      { name: 'HF_TOKEN', secretRef: { name: 'huggingface', key: 'token' } },
    ]);
    expect(full.spec.result).toEqual({ path: 'metrics/result.json', maxBytes: 4 * 1024 * 1024 });
    expect(full.spec.artifacts).toEqual({
      paths: ['plots', 'predictions/*.jsonl'],
      maxBytes: 10 * 1024 ** 3,
      maxFiles: 5000,
    });
    expect(full.spec.cluster).toEqual({ selector: { region: 'eu-west' }, gpuType: 'nvidia-a100' });
    expect(full.metadata.labels).toEqual({
      'cost-center': 'cc-1234',
      'app.kubernetes.io/part-of': 'nightly-evals',
    });
  });

  it('uses every field of the spec in the full example', () => {
    const spec = (example('full.yaml') as { spec: Record<string, unknown> }).spec;
    const used = Object.keys(spec).sort();
    expect(used).toEqual(
      [
        'team',
        'user',
        'image',
        'command',
        'args',
        'env',
        'workingDir',
        'resources',
        'timeoutSeconds',
        'priority',
        'retries',
        'result',
        'artifacts',
        'webhooks',
        'cluster',
        'retentionDays',
      ].sort(),
    );
  });

  it('is idempotent: a normalised manifest parses to itself', () => {
    for (const input of [minimalManifest(), example('full.yaml')]) {
      const once = expectValid(input);
      expect(expectValid(JSON.parse(JSON.stringify(once)))).toEqual(once);
    }
  });

  it('accepts quantities as strings or integers and normalises them', () => {
    const job = expectValid(
      manifestWith({
        'spec.resources.cpu': '0.25',
        'spec.resources.memory': 1073741824,
        'spec.resources.ephemeralStorage': '1e10',
        'spec.resources.limits.cpu': 2,
        'spec.resources.limits.memory': '2048Mi',
      }),
    );
    expect(job.spec.resources).toEqual({
      cpu: '250m',
      memory: '1Gi',
      ephemeralStorage: '10G',
      limits: { cpu: '2', memory: '2Gi', ephemeralStorage: '10G' },
    });
  });

  it('fills a missing request from its limit, as Kubernetes does', () => {
    const job = expectValid(
      manifestWith({ 'spec.resources.limits.memory': '4Gi', 'spec.resources.limits.cpu': '500m' }),
    );
    expect(job.spec.resources.memory).toBe('4Gi');
    expect(job.spec.resources.cpu).toBe('500m');
    expect(job.spec.resources.limits).toEqual({ cpu: '500m', memory: '4Gi', ephemeralStorage: '2Gi' });
  });

  it('fills result and artifacts defaults when the blocks are present', () => {
    const job = expectValid(manifestWith({ 'spec.result': {}, 'spec.artifacts': {} }));
    expect(job.spec.result).toEqual({ path: specDefaults.resultPath, maxBytes: specDefaults.resultMaxBytes });
    expect(job.spec.artifacts).toEqual({
      paths: ['.'],
      maxBytes: specDefaults.artifactMaxBytes,
      maxFiles: specDefaults.artifactMaxFiles,
    });
  });

  it('fills webhook events and GPU count defaults', () => {
    const job = expectValid(
      manifestWith({ 'spec.webhooks': [{ url: 'http://localhost:8080/hook' }], 'spec.resources.gpu': {} }),
    );
    expect(job.spec.webhooks[0]?.events).toEqual(specDefaults.webhookEvents);
    expect(job.spec.resources.gpu).toEqual({ count: 1 });
  });

  it('normalises artifact and result paths', () => {
    const job = expectValid(
      manifestWith({
        'spec.result.path': './out//r.json',
        'spec.artifacts.paths': ['./plots/', 'a/./b', '.'],
      }),
    );
    expect(job.spec.result?.path).toBe('out/r.json');
    expect(job.spec.artifacts?.paths).toEqual(['plots', 'a/b', '.']);
  });

  it('derives cluster.gpuType from resources.gpu.type', () => {
    const job = expectValid(manifestWith({ 'spec.resources.gpu': { type: 'nvidia-h100', count: 2 } }));
    expect(job.spec.cluster.gpuType).toBe('nvidia-h100');
  });

  it.each([
    'busybox',
    'library/busybox:1.36',
    'docker.io/library/python:3.12-slim',
    'localhost/assay/python:3',
    'localhost:5000/team/eval',
    'registry.example.com:443/a/b/c:v1.2.3',
    'ghcr.io/org/image@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef',
    'my_registry.example.com/x',
    'a__b/c---d',
    'Registry.Example.com/lower/case:TAG',
  ])('accepts the image reference %s', (image) => {
    expect(expectValid(manifestWith({ 'spec.image': image })).spec.image).toBe(image);
  });

  it('parses a bare spec with paths relative to it', () => {
    const result = parseEvaluationSpec({
      team: 'ml',
      user: 'alice',
      image: 'busybox',
      resources: { memory: 'lots' },
    });
    expect(result).toEqual({
      ok: false,
      issues: [{ path: 'resources.memory', message: '"lots" is not a Kubernetes quantity' }],
    });
  });

  it('throws a coded error listing every issue from the throwing variant', () => {
    expect(() => evaluationJobOrThrow(manifestWith({ 'spec.team': 'A', 'spec.user': 'B' }))).toThrow(
      InvalidEvaluationSpecError,
    );
    try {
      evaluationJobOrThrow(manifestWith({ 'spec.team': 'A', 'spec.user': 'B' }));
    } catch (err) {
      expect(err).toMatchObject({ code: 'ASSAY_INVALID_SPEC' });
      expect((err as InvalidEvaluationSpecError).issues.map((i) => i.path)).toEqual([
        'spec.team',
        'spec.user',
      ]);
    }
  });
});

describe('invalid manifests name the field of every error', () => {
  it.each<[string, Record<string, unknown>, string, string]>([
    ['wrong apiVersion', { apiVersion: 'assay.dev/v2' }, 'apiVersion', 'must be "assay.dev/v1"'],
    ['wrong kind', { kind: 'Job' }, 'kind', 'must be "EvaluationJob"'],
    ['missing spec', { spec: undefined }, 'spec', 'is required'],
    ['missing team', { 'spec.team': undefined }, 'spec.team', 'is required'],
    ['uppercase team', { 'spec.team': 'ML' }, 'spec.team', '"ML" is not a valid team name'],
    ['team with underscore', { 'spec.team': 'ml_team' }, 'spec.team', 'is not a valid team name'],
    ['email as user', { 'spec.user': 'a@b.c' }, 'spec.user', 'not an email address'],
    [
      'numeric team',
      { 'spec.team': 42 },
      'spec.team',
      'must be a string, not the number 42 (quote it in YAML)',
    ],
    ['bad name', { 'metadata.name': '-x' }, 'metadata.name', '"-x" is not a valid name'],
    ['bad namespace', { 'metadata.namespace': 'A' }, 'metadata.namespace', 'is not a valid namespace'],
    ['uppercase image', { 'spec.image': 'Python:3' }, 'spec.image', 'repository names must be lowercase'],
    ['image with spaces', { 'spec.image': 'python 3' }, 'spec.image', 'it contains whitespace'],
    ['image as URL', { 'spec.image': 'https://x.io/a' }, 'spec.image', 'no URL scheme'],
    ['short digest', { 'spec.image': 'a@sha256:abc' }, 'spec.image', 'is not a valid image reference'],
    [
      'command not a list',
      { 'spec.command': 'python main.py' },
      'spec.command',
      'must be a list, not a string',
    ],
    ['empty command item', { 'spec.command': [''] }, 'spec.command[0]', 'must not be empty'],
    ['NUL in args', { 'spec.args': ['a\u0000b'] }, 'spec.args[0]', 'must not contain a NUL character'],
    [
      'env name',
      { 'spec.env': [{ name: '1X', value: 'v' }] },
      'spec.env[0].name',
      'not a valid environment variable',
    ],
    [
      'reserved env',
      { 'spec.env': [{ name: 'ASSAY_RESULT_PATH', value: '/x' }] },
      'spec.env[0].name',
      'is reserved',
    ],
    ['env without value', { 'spec.env': [{ name: 'X' }] }, 'spec.env[0]', 'set value or secretRef'],
    [
      'duplicate env',
      {
        'spec.env': [
          { name: 'X', value: '1' },
          { name: 'Y', value: '2' },
          { name: 'X', value: '3' },
        ],
      },
      'spec.env[2].name',
      '"X" is already set at env[0]',
    ],
    [
      'bad secret name',
      { 'spec.env': [{ name: 'X', secretRef: { name: 'My_Secret', key: 'k' } }] },
      'spec.env[0].secretRef.name',
      'is not a valid Secret name',
    ],
    [
      'bad secret key',
      { 'spec.env': [{ name: 'X', secretRef: { name: 's', key: 'a/b' } }] },
      'spec.env[0].secretRef.key',
      'is not a valid Secret key',
    ],
    ['relative workingDir', { 'spec.workingDir': 'work' }, 'spec.workingDir', 'must be an absolute path'],
    [
      'garbage memory',
      { 'spec.resources.memory': '12 parsecs' },
      'spec.resources.memory',
      '"12 parsecs" is not a Kubernetes quantity',
    ],
    [
      'fractional memory',
      { 'spec.resources.memory': '0.5' },
      'spec.resources.memory',
      'is not a whole number of bytes',
    ],
    ['negative cpu', { 'spec.resources.cpu': '-1' }, 'spec.resources.cpu', '"-1" is negative'],
    [
      'cpu as float',
      { 'spec.resources.cpu': 0.5 },
      'spec.resources.cpu',
      'write fractions and large values as strings',
    ],
    [
      'cpu as boolean',
      { 'spec.resources.cpu': true },
      'spec.resources.cpu',
      'must be a Kubernetes quantity such as',
    ],
    ['sub-millicore cpu', { 'spec.resources.cpu': '0.0001' }, 'spec.resources.cpu', 'finer than 1m'],
    [
      'limit below request',
      { 'spec.resources.memory': '2Gi', 'spec.resources.limits.memory': '1Gi' },
      'spec.resources.limits.memory',
      'limit 1Gi is below the request 2Gi',
    ],
    [
      'limit below the default request',
      { 'spec.resources.limits.ephemeralStorage': '1Gi', 'spec.resources.ephemeralStorage': '2Gi' },
      'spec.resources.limits.ephemeralStorage',
      'limit 1Gi is below the request 2Gi',
    ],
    ['gpu count zero', { 'spec.resources.gpu.count': 0 }, 'spec.resources.gpu.count', 'must be at least 1'],
    [
      'gpu count fraction',
      { 'spec.resources.gpu.count': 1.5 },
      'spec.resources.gpu.count',
      'must be a whole number',
    ],
    ['timeout zero', { 'spec.timeoutSeconds': 0 }, 'spec.timeoutSeconds', 'must be at least 1'],
    [
      'timeout as string',
      { 'spec.timeoutSeconds': '1h' },
      'spec.timeoutSeconds',
      'must be an integer, not "1h"',
    ],
    [
      'unknown priority',
      { 'spec.priority': 'urgent' },
      'spec.priority',
      'must be one of "low", "normal", "high"',
    ],
    ['zero attempts', { 'spec.retries.maxAttempts': 0 }, 'spec.retries.maxAttempts', 'must be at least 1'],
    [
      'negative backoff',
      { 'spec.retries.backoffSeconds': -1 },
      'spec.retries.backoffSeconds',
      'must be at least 0',
    ],
    [
      'exit code 0',
      { 'spec.retries.transientExitCodes': [0] },
      'spec.retries.transientExitCodes[0]',
      'must be at least 1',
    ],
    [
      'exit code 256',
      { 'spec.retries.transientExitCodes': [256] },
      'spec.retries.transientExitCodes[0]',
      'must be at most 255',
    ],
    [
      'duplicate exit code',
      { 'spec.retries.transientExitCodes': [7, 7] },
      'spec.retries.transientExitCodes[1]',
      'exit code 7 is already listed at transientExitCodes[0]',
    ],
    ['result path ..', { 'spec.result.path': '../x.json' }, 'spec.result.path', 'must not contain ".."'],
    [
      'result path hidden ..',
      { 'spec.result.path': 'a/../../x' },
      'spec.result.path',
      'must not contain ".."',
    ],
    [
      'absolute result path',
      { 'spec.result.path': '/tmp/r.json' },
      'spec.result.path',
      'must be relative to $ASSAY_RESULT_DIR',
    ],
    ['result path a directory', { 'spec.result.path': 'out/' }, 'spec.result.path', 'must name a file'],
    [
      'result path a glob',
      { 'spec.result.path': '*.json' },
      'spec.result.path',
      'must name one file, not a pattern',
    ],
    ['backslash path', { 'spec.result.path': 'a\\b' }, 'spec.result.path', 'must use "/"'],
    [
      'artifact ..',
      { 'spec.artifacts.paths': ['ok', '..'] },
      'spec.artifacts.paths[1]',
      'must not contain ".."',
    ],
    [
      'absolute artifact',
      { 'spec.artifacts.paths': ['/out'] },
      'spec.artifacts.paths[0]',
      'must be relative to $ASSAY_ARTIFACTS_DIR',
    ],
    [
      'no artifact paths',
      { 'spec.artifacts.paths': [] },
      'spec.artifacts.paths',
      'must not be an empty list',
    ],
    [
      'duplicate artifact paths after normalising',
      { 'spec.artifacts.paths': ['plots', './plots/'] },
      'spec.artifacts.paths[1]',
      '"plots" is already listed at paths[0]',
    ],
    [
      'artifact maxBytes garbage',
      { 'spec.artifacts.maxBytes': 'big' },
      'spec.artifacts.maxBytes',
      '"big" is not a Kubernetes quantity',
    ],
    [
      'ftp webhook',
      { 'spec.webhooks': [{ url: 'ftp://x' }] },
      'spec.webhooks[0].url',
      'is not an http(s) URL',
    ],
    [
      'webhook without host',
      { 'spec.webhooks': [{ url: 'https://' }] },
      'spec.webhooks[0].url',
      'is not an http(s) URL',
    ],
    [
      'webhook bad port',
      { 'spec.webhooks': [{ url: 'https://x:99999/' }] },
      'spec.webhooks[0].url',
      'has an invalid port',
    ],
    [
      'webhook with credentials',
      { 'spec.webhooks': [{ url: 'https://user:pw@hooks.example.com/x' }] },
      'spec.webhooks[0].url',
      'must not contain credentials',
    ],
    [
      'webhook to a loopback IP literal',
      { 'spec.webhooks': [{ url: 'http://127.0.0.1:8080/hook' }] },
      'spec.webhooks[0].url',
      '"127.0.0.1" is a loopback address',
    ],
    [
      'webhook to the metadata address',
      { 'spec.webhooks': [{ url: 'http://169.254.169.254/latest' }] },
      'spec.webhooks[0].url',
      'is a cloud metadata address',
    ],
    [
      'webhook to an IPv4-mapped private address',
      { 'spec.webhooks': [{ url: 'https://[::ffff:10.0.0.1]/' }] },
      'spec.webhooks[0].url',
      'is a private address',
    ],
    [
      'webhook to a numeric host',
      { 'spec.webhooks': [{ url: 'https://2130706433/' }] },
      'spec.webhooks[0].url',
      'neither a DNS name nor a dotted-decimal IP address',
    ],
    [
      'unknown webhook event',
      { 'spec.webhooks': [{ url: 'https://x', events: ['done'] }] },
      'spec.webhooks[0].events[0]',
      'must be one of',
    ],
    [
      'no webhook events',
      { 'spec.webhooks': [{ url: 'https://x', events: [] }] },
      'spec.webhooks[0].events',
      'must not be an empty list',
    ],
    [
      'cluster name and selector',
      { 'spec.cluster': { name: 'a', selector: { b: 'c' } } },
      'spec.cluster.selector',
      'set name or selector, not both',
    ],
    [
      'bad cluster name',
      { 'spec.cluster.name': 'East_1' },
      'spec.cluster.name',
      'is not a valid cluster name',
    ],
    [
      'bad selector value',
      { 'spec.cluster.selector': { region: 'eu west' } },
      'spec.cluster.selector.region',
      'is not a valid label value',
    ],
    [
      'conflicting GPU types',
      { 'spec.resources.gpu.type': 'a100', 'spec.cluster.gpuType': 'h100' },
      'spec.cluster.gpuType',
      '"h100" conflicts with resources.gpu.type "a100"',
    ],
    [
      'artifacts outgrow ephemeral storage',
      { 'spec.artifacts.maxBytes': '3Gi' },
      'spec.artifacts.maxBytes',
      'result and artifacts may take 3Gi, more than resources.limits.ephemeralStorage 2Gi',
    ],
    ['retention zero', { 'spec.retentionDays': 0 }, 'spec.retentionDays', 'must be at least 1'],
    [
      'bad label key',
      { 'metadata.labels': { 'bad key': 'v' } },
      'metadata.labels["bad key"]',
      'is not a valid label key',
    ],
    [
      'bad label prefix',
      { 'metadata.labels': { 'Example.com/x': 'v' } },
      'metadata.labels["Example.com/x"]',
      'is not a valid label key prefix',
    ],
    [
      'bad label value',
      { 'metadata.labels': { team: 'a b' } },
      'metadata.labels.team',
      'is not a valid label value',
    ],
    [
      'numeric label value',
      { 'metadata.labels': { version: 1.5 } },
      'metadata.labels.version',
      'quote it in YAML',
    ],
    [
      'bad annotation key',
      { 'metadata.annotations': { '/x': 'v' } },
      'metadata.annotations["/x"]',
      'has an empty prefix',
    ],
  ])('%s', (_name, fields, path, message) => {
    const messages = messagesAt(manifestWith(fields as Record<string, never>), path);
    expect(messages.join('\n')).toContain(message);
  });

  it('reports a document that is not a mapping at the root', () => {
    expect(expectIssues([1, 2])).toEqual([{ path: '', message: 'must be a mapping, not a list' }]);
    expect(expectIssues('apiVersion: x')).toEqual([{ path: '', message: 'must be a mapping, not a string' }]);
  });

  it('reports every problem in one pass, not just the first', () => {
    const issues = expectIssues(example('invalid.yaml'));
    const paths = issues.map((issue) => issue.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'metadata.name',
        'spec.team',
        'spec.user',
        'spec.image',
        'spec.env[1].name',
        'spec.env[2].secretRef.value',
        'spec.resources.memory',
        'spec.resources.cpu',
        'spec.resources.limits.ephemeralStorage',
        'spec.timeoutSeconds',
        'spec.priority',
        'spec.retries.maxAttempts',
        'spec.result.path',
        'spec.artifacts.paths[0]',
        'spec.webhooks[0].url',
        'spec.retentionDayz',
      ]),
    );
    expect(new Set(paths).size).toBe(paths.length);
  });
});

describe('unknown fields are errors at every level', () => {
  it.each<[string, string]>([
    ['colour', 'colour'],
    ['metadata.uid', 'metadata.uid'],
    ['spec.memory', 'spec.memory'],
    ['spec.resources.requests', 'spec.resources.requests'],
    ['spec.resources.limits.gpu', 'spec.resources.limits.gpu'],
    ['spec.resources.gpu.model', 'spec.resources.gpu.model'],
    ['spec.env[0].valueFrom', 'spec.env[0].valueFrom'],
    ['spec.retries.backoff', 'spec.retries.backoff'],
    ['spec.result.file', 'spec.result.file'],
    ['spec.artifacts.path', 'spec.artifacts.path'],
    ['spec.webhooks[0].headers', 'spec.webhooks[0].headers'],
    ['spec.cluster.region', 'spec.cluster.region'],
  ])('%s', (field, path) => {
    let manifest = manifestWith({
      'spec.env': [{ name: 'A', value: 'b' }],
      'spec.webhooks': [{ url: 'https://example.com/hook' }],
      'spec.result': {},
      'spec.artifacts': {},
      'spec.resources.gpu': {},
    });
    manifest = withField(manifest, field, 'x');
    const issues = expectIssues(manifest);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe(path);
    expect(issues[0]?.message).toMatch(/^unknown field/);
  });

  it('suggests the field a typo was meant to be', () => {
    expect(messagesAt(manifestWith({ 'spec.resources.memroy': '1Gi' }), 'spec.resources.memroy')).toEqual([
      'unknown field (did you mean "memory"?)',
    ]);
    expect(messagesAt(manifestWith({ 'spec.timeoutseconds': 5 }), 'spec.timeoutseconds')).toEqual([
      'unknown field (did you mean "timeoutSeconds"?)',
    ]);
    expect(
      messagesAt(manifestWith({ 'spec.resources.requests': {} }), 'spec.resources.requests')[0],
    ).toContain('requests are set directly on resources');
  });

  it('quotes keys that are not identifiers in paths', () => {
    const issues = expectIssues(manifestWith({ 'spec.resources.limits': { 'nvidia.com/gpu': 1 } }));
    expect(issues[0]?.path).toBe('spec.resources.limits["nvidia.com/gpu"]');
  });
});

describe('secrets are never inline', () => {
  it('rejects a value next to a secretRef', () => {
    const manifest = manifestWith({
      'spec.env': [{ name: 'T', value: 'hunter2', secretRef: { name: 's', key: 'k' } }],
    });
    expect(messagesAt(manifest, 'spec.env[0].secretRef')).toEqual(['set value or secretRef, not both']);
  });

  it('has no place for a secret value inside a secretRef', () => {
    const manifest = manifestWith({
      'spec.env': [{ name: 'T', secretRef: { name: 's', key: 'k', value: 'hunter2' } }],
    });
    expect(messagesAt(manifest, 'spec.env[0].secretRef.value')[0]).toContain('never goes into a manifest');
    const webhook = manifestWith({
      'spec.webhooks': [{ url: 'https://x', secretRef: { name: 's', key: 'k', value: 'hunter2' } }],
    });
    expect(messagesAt(webhook, 'spec.webhooks[0].secretRef.value')).toHaveLength(1);
  });

  it('rejects credentials in a webhook URL', () => {
    const manifest = manifestWith({ 'spec.webhooks': [{ url: 'https://user:hunter2@hooks.example.com/x' }] });
    expect(messagesAt(manifest, 'spec.webhooks[0].url')).toEqual([
      'must not contain credentials; sign requests with secretRef instead',
    ]);
  });

  it('keeps a secret env var a reference after parsing', () => {
    const job = expectValid(
      manifestWith({ 'spec.env': [{ name: 'T', secretRef: { name: 'creds', key: 'token' } }] }),
    );
    expect(job.spec.env).toEqual([{ name: 'T', secretRef: { name: 'creds', key: 'token' } }]);
    expect(job.spec.env[0]).not.toHaveProperty('value');
  });
});

describe('bounds: each accepts its maximum and rejects one more', () => {
  const repeat = <T>(n: number, make: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => make(i));
  const name = (length: number) => 'a'.repeat(length);
  const env = (n: number) => repeat(n, (i) => ({ name: `V${i}`, value: 'x' }));
  const labels = (n: number) => Object.fromEntries(repeat(n, (i) => [`k${i}`, 'v']));

  it.each<[string, string, unknown, unknown]>([
    ['metadata.name length', 'metadata.name', name(specLimits.nameLength), name(specLimits.nameLength + 1)],
    ['team length', 'spec.team', name(specLimits.teamLength), name(specLimits.teamLength + 1)],
    ['user length', 'spec.user', name(specLimits.userLength), name(specLimits.userLength + 1)],
    [
      'image length',
      'spec.image',
      `a/${'b'.repeat(250)}:${'t'.repeat(128)}`,
      `a/${'b'.repeat(380)}:${'t'.repeat(130)}`,
    ],
    [
      'command items',
      'spec.command',
      repeat(specLimits.commandItems, () => 'x'),
      repeat(specLimits.commandItems + 1, () => 'x'),
    ],
    [
      'args items',
      'spec.args',
      repeat(specLimits.argsItems, () => 'x'),
      repeat(specLimits.argsItems + 1, () => 'x'),
    ],
    [
      'argument length',
      'spec.args',
      ['x'.repeat(specLimits.argumentLength)],
      ['x'.repeat(specLimits.argumentLength + 1)],
    ],
    ['env count', 'spec.env', env(specLimits.envVars), env(specLimits.envVars + 1)],
    [
      'env value length',
      'spec.env',
      [{ name: 'A', value: 'x'.repeat(specLimits.envValueLength) }],
      [{ name: 'A', value: 'x'.repeat(specLimits.envValueLength + 1) }],
    ],
    [
      'env name length',
      'spec.env',
      [{ name: 'A'.repeat(specLimits.envNameLength), value: '' }],
      [{ name: 'A'.repeat(specLimits.envNameLength + 1), value: '' }],
    ],
    [
      'workingDir length',
      'spec.workingDir',
      `/${'w'.repeat(specLimits.workingDirLength - 1)}`,
      `/${'w'.repeat(specLimits.workingDirLength)}`,
    ],
    ['cpu', 'spec.resources.limits.cpu', '256', '256001m'],
    ['cpu minimum', 'spec.resources.cpu', '1m', '0'],
    ['memory', 'spec.resources.limits.memory', '1Ti', '1099511627777'],
    ['memory minimum', 'spec.resources.memory', '16Mi', '16777215'],
    ['ephemeral storage', 'spec.resources.limits.ephemeralStorage', '1Ti', '1025Gi'],
    ['ephemeral storage minimum', 'spec.resources.ephemeralStorage', '16Mi', '15Mi'],
    ['gpu count', 'spec.resources.gpu.count', specLimits.gpuCount, specLimits.gpuCount + 1],
    ['timeoutSeconds (7 days)', 'spec.timeoutSeconds', 604800, 604801],
    ['maxAttempts', 'spec.retries.maxAttempts', specLimits.maxAttempts, specLimits.maxAttempts + 1],
    [
      'backoffSeconds',
      'spec.retries.backoffSeconds',
      specLimits.maxBackoffSeconds,
      specLimits.maxBackoffSeconds + 1,
    ],
    [
      'transientExitCodes count',
      'spec.retries.transientExitCodes',
      repeat(specLimits.transientExitCodes, (i) => i + 1),
      repeat(specLimits.transientExitCodes + 1, (i) => i + 1),
    ],
    ['result.maxBytes (100Mi)', 'spec.result.maxBytes', '100Mi', 100 * 1024 * 1024 + 1],
    [
      'result.path length',
      'spec.result.path',
      'r'.repeat(specLimits.pathLength),
      'r'.repeat(specLimits.pathLength + 1),
    ],
    [
      'artifact paths count',
      'spec.artifacts.paths',
      repeat(specLimits.artifactPaths, (i) => `p${i}`),
      repeat(specLimits.artifactPaths + 1, (i) => `p${i}`),
    ],
    ['artifacts.maxFiles', 'spec.artifacts.maxFiles', specLimits.artifactFiles, specLimits.artifactFiles + 1],
    [
      'webhooks count',
      'spec.webhooks',
      repeat(specLimits.webhooks, () => ({ url: 'https://x' })),
      repeat(specLimits.webhooks + 1, () => ({ url: 'https://x' })),
    ],
    [
      'webhook URL length',
      'spec.webhooks',
      [{ url: `https://x/${'p'.repeat(specLimits.webhookUrlLength - 10)}` }],
      [{ url: `https://x/${'p'.repeat(specLimits.webhookUrlLength - 9)}` }],
    ],
    [
      'cluster selector entries',
      'spec.cluster.selector',
      labels(specLimits.clusterSelectorLabels),
      labels(specLimits.clusterSelectorLabels + 1),
    ],
    ['retentionDays', 'spec.retentionDays', specLimits.maxRetentionDays, specLimits.maxRetentionDays + 1],
    ['labels', 'metadata.labels', labels(specLimits.labels), labels(specLimits.labels + 1)],
    ['label value length', 'metadata.labels', { k: 'v'.repeat(63) }, { k: 'v'.repeat(64) }],
    [
      'annotations',
      'metadata.annotations',
      labels(specLimits.annotations),
      labels(specLimits.annotations + 1),
    ],
    [
      'annotations total size',
      'metadata.annotations',
      { a: 'x'.repeat(specLimits.annotationsLength - 1) },
      { a: 'x'.repeat(specLimits.annotationsLength) },
    ],
    ['quantity length', 'spec.resources.memory', `${'0'.repeat(60)}1Gi`, `${'0'.repeat(62)}1Gi`],
  ])('%s', (_name, path, atBound, overBound) => {
    const base = manifestWith({
      'spec.resources.limits.ephemeralStorage': '1Ti',
      'spec.resources.limits.memory': '1Ti',
      'spec.resources.limits.cpu': '256',
    });
    expectValid(withField(base, path, atBound as never));
    const issues = expectIssues(withField(base, path, overBound as never));
    expect(issues.length).toBeGreaterThan(0);
    for (const issue of issues) expect(issue.path.startsWith(path)).toBe(true);
  });

  it('artifacts.maxBytes: 100Gi at most', () => {
    const base = manifestWith({ 'spec.resources.limits.ephemeralStorage': '1Ti' });
    expectValid(withField(base, 'spec.artifacts.maxBytes', '100Gi'));
    expect(
      messagesAt(withField(base, 'spec.artifacts.maxBytes', '100Gi1'), 'spec.artifacts.maxBytes'),
    ).toHaveLength(1);
    expect(
      messagesAt(withField(base, 'spec.artifacts.maxBytes', 100 * 1024 ** 3 + 1), 'spec.artifacts.maxBytes'),
    ).toEqual(['"107374182401" is more than the maximum 100Gi']);
  });

  it('bounds the whole invocation, not only each part', () => {
    const args = Array.from({ length: 40 }, () => 'x'.repeat(specLimits.argumentLength));
    const env = Array.from({ length: 20 }, (_, i) => ({
      name: `V${i}`,
      value: 'y'.repeat(specLimits.envValueLength),
    }));
    const issues = expectIssues(manifestWith({ 'spec.args': args, 'spec.env': env }));
    expect(issues).toEqual([
      {
        path: 'spec',
        message: expect.stringContaining('command, args and env together exceed 131072 characters'),
      },
    ]);
  });

  it('does not parse an enormous quantity into an enormous number', () => {
    const issues = expectIssues(manifestWith({ 'spec.resources.memory': '9e999999999' }));
    expect(issues[0]?.message).toContain('too large');
  });
});

it('parseEvaluationJob never throws on hostile input', () => {
  const inputs: unknown[] = [
    undefined,
    null,
    0,
    '',
    [],
    {},
    { spec: null },
    { spec: [] },
    { spec: { env: {} } },
  ];
  for (const input of inputs) expect(() => parseEvaluationJob(input)).not.toThrow();
});
