/**
 * The `EvaluationJob` manifest (`apiVersion: assay.dev/v1`): the one contract for an evaluation, accepted by
 * `assay run -f`, by `AssayClient.start` and, through the CRD, by `kubectl apply -f`.
 *
 * Parsing does three things at once: it rejects anything Kubernetes or Assay would refuse later (with the field path
 * of each problem), it fills in defaults, and it normalises (quantities to canonical spellings, paths without `./`,
 * limits filled from requests), so two manifests that mean the same thing parse to the same value.
 *
 * Every string, list, map and number has an upper bound: a manifest travels through Temporal history (2 MiB per
 * payload) and is stored as a Kubernetes object (1.5 MiB), and a runaway value should fail here, not there.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import {
  parseBytes,
  parseCpu,
  formatBytes,
  formatMillicores,
  kubernetesQuantityPattern,
} from './quantity.js';
import {
  checkDns1123Label,
  checkDns1123Subdomain,
  checkImageReference,
  checkLabelValue,
  checkQualifiedName,
  dns1123LabelPattern,
  dns1123SubdomainPattern,
  envVarNamePattern,
  imageReferencePattern,
  labelValuePattern,
  quote,
  secretKeyPattern,
} from './kubernetes-rules.js';
import { specErrorMap, toSpecIssues, type SpecIssue } from './issues.js';

/** The only `apiVersion` this schema accepts. */
export const evaluationJobApiVersion = 'assay.dev/v1';
/** The `kind` of the manifest and of the custom resource. */
export const evaluationJobKind = 'EvaluationJob';

/** Where the main container finds the result directory (an emptyDir shared with the collector). */
export const assayResultDir = '/assay/result';
/** Where the main container writes artifacts (an emptyDir shared with the collector); `$ASSAY_ARTIFACTS_DIR`. */
export const assayArtifactsDir = '/assay/artifacts';
/** Environment variables with this prefix are set by Assay (`ASSAY_RESULT_PATH`, …) and cannot be overridden. */
export const reservedEnvPrefix = 'ASSAY_';

/** Evaluation priorities, lowest first. */
export const priorities = ['low', 'normal', 'high'] as const;
/** An evaluation's priority: orders the team's quota queue and picks the Kubernetes PriorityClass. */
export type Priority = (typeof priorities)[number];

/** Events a webhook can subscribe to: progress, then one per outcome of DESIGN.md "The record". */
export const webhookEvents = [
  'started',
  'retrying',
  'succeeded',
  'failed',
  'timedOut',
  'cancelled',
  'configurationError',
  'infrastructureError',
] as const;
/** One webhook event name. */
export type WebhookEvent = (typeof webhookEvents)[number];
const terminalWebhookEvents: WebhookEvent[] = [
  'succeeded',
  'failed',
  'timedOut',
  'cancelled',
  'configurationError',
  'infrastructureError',
];

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

const maxAttemptsLimit = 10;
// Jobs are named `assay-<name>-<attempt>` and a Job name must fit a label value (63 characters).
const jobNameOverhead = 'assay-'.length + '-'.length + String(maxAttemptsLimit).length;

/** The upper (and a few lower) bounds of every field. Exported so documentation and tests quote the same numbers. */
export const specLimits = {
  /** `metadata.name`, so that `assay-<name>-<attempt>` is a valid Job name. */
  nameLength: 63 - jobNameOverhead,
  /** `spec.team`, so that the namespace `assay-<team>` is a valid namespace name. */
  teamLength: 63 - 'assay-'.length,
  userLength: 63,
  imageLength: 512,
  commandItems: 64,
  argsItems: 256,
  argumentLength: 4096,
  envVars: 100,
  envNameLength: 256,
  envValueLength: 8 * KiB,
  /** command, args and env values together: the whole invocation ends up in the Job object and in history. */
  invocationLength: 128 * KiB,
  workingDirLength: 1024,
  labels: 64,
  annotations: 64,
  /** Kubernetes' own limit on the total size of an object's annotations. */
  annotationsLength: 256 * KiB,
  minCpuMillicores: 1,
  maxCpuMillicores: 256_000,
  /** runc refuses memory limits below about 6 MiB; below 16 MiB hardly any runtime starts. */
  minMemoryBytes: 16 * MiB,
  maxMemoryBytes: TiB,
  minEphemeralStorageBytes: 16 * MiB,
  maxEphemeralStorageBytes: TiB,
  gpuCount: 16,
  minTimeoutSeconds: 1,
  maxTimeoutSeconds: 7 * 24 * 3600,
  maxAttempts: maxAttemptsLimit,
  maxBackoffSeconds: 3600,
  transientExitCodes: 32,
  resultBytes: 100 * MiB,
  artifactBytes: 100 * GiB,
  artifactFiles: 100_000,
  artifactPaths: 64,
  pathLength: 256,
  webhooks: 10,
  webhookUrlLength: 2048,
  clusterSelectorLabels: 16,
  maxRetentionDays: 365,
  quantityLength: 64,
} as const;

/** The defaults parsing fills in. */
export const specDefaults = {
  cpu: '1',
  memory: '1Gi',
  ephemeralStorage: '2Gi',
  gpuCount: 1,
  timeoutSeconds: 3600,
  priority: 'normal' as Priority,
  maxAttempts: 3,
  backoffSeconds: 10,
  resultPath: 'result.json',
  resultMaxBytes: MiB,
  artifactPaths: ['.'] as readonly string[],
  artifactMaxBytes: GiB,
  artifactMaxFiles: 10_000,
  webhookEvents: terminalWebhookEvents as readonly WebhookEvent[],
  retentionDays: 30,
} as const;

// ---------------------------------------------------------------------------------------------------------------
// Building blocks

type Check = (value: string) => string | undefined;

/** A string validated by a Kubernetes rule; the regex is also published in the JSON Schema. */
function ruleString(pattern: string, maxLength: number, check: Check): z.ZodString {
  return z
    .string()
    .min(1, { abort: true })
    .max(maxLength, { abort: true })
    .regex(new RegExp(pattern), { error: (issue) => check(String(issue.input)) ?? 'has an invalid format' });
}

function describeInput(input: unknown): string {
  if (typeof input === 'string') return quote(input);
  if (typeof input === 'number' || typeof input === 'boolean' || input === null) return String(input);
  return Array.isArray(input) ? 'a list' : 'a mapping';
}

// Kubernetes quantities are int-or-string. Fractional numbers are accepted here only to be refused with advice
// (parseCpu/parseBytes say to quote them), because the API server would refuse them with a vaguer message.
const quantityInput = z.union([z.string(), z.number()], {
  error: (issue) =>
    `must be a Kubernetes quantity such as "500m", "2" or "1Gi", not ${describeInput(issue.input)}`,
});

const intOrStringMeta = { 'x-kubernetes-int-or-string': true, pattern: kubernetesQuantityPattern };

function tooLong(value: string | number): string | undefined {
  return typeof value === 'string' && value.length > specLimits.quantityLength
    ? `quantity is longer than ${specLimits.quantityLength} characters`
    : undefined;
}

/** A CPU quantity; parses to its canonical spelling (`"500m"`, `"2"`). */
function cpuQuantity(description: string) {
  return quantityInput
    .transform((value, ctx) => {
      const problem = tooLong(value);
      const parsed = parseCpu(value);
      if (problem || !parsed.ok) {
        ctx.addIssue({ code: 'custom', message: problem ?? (parsed.ok ? '' : parsed.message), input: value });
        return z.NEVER;
      }
      const { millicores, canonical } = parsed.value;
      if (millicores < specLimits.minCpuMillicores) {
        ctx.addIssue({
          code: 'custom',
          message: `${quote(String(value))} is less than the minimum 1m`,
          input: value,
        });
      } else if (millicores > specLimits.maxCpuMillicores) {
        const max = formatMillicores(specLimits.maxCpuMillicores);
        ctx.addIssue({
          code: 'custom',
          message: `${quote(String(value))} is more than the maximum ${max}`,
          input: value,
        });
      }
      return canonical;
    })
    .meta({ ...intOrStringMeta, description });
}

interface ByteBounds {
  readonly min: number;
  readonly max: number;
}

/** A byte quantity checked against bounds; parses to whole bytes and the canonical spelling. */
function byteAmount(bounds: ByteBounds) {
  return quantityInput.transform((value, ctx) => {
    const problem = tooLong(value);
    const parsed = parseBytes(value);
    if (problem || !parsed.ok) {
      ctx.addIssue({ code: 'custom', message: problem ?? (parsed.ok ? '' : parsed.message), input: value });
      return z.NEVER;
    }
    const { bytes } = parsed.value;
    if (bytes < bounds.min) {
      const min = formatBytes(bounds.min, true);
      ctx.addIssue({
        code: 'custom',
        message: `${quote(String(value))} is less than the minimum ${min}`,
        input: value,
      });
    } else if (bytes > bounds.max) {
      const max = formatBytes(bounds.max, true);
      ctx.addIssue({
        code: 'custom',
        message: `${quote(String(value))} is more than the maximum ${max}`,
        input: value,
      });
    }
    return parsed.value;
  });
}

/** A memory or storage quantity; parses to its canonical spelling (`"1Gi"`, `"1500M"`). */
function byteQuantity(bounds: ByteBounds, description: string) {
  return byteAmount(bounds)
    .transform((amount) => amount.canonical)
    .meta({ ...intOrStringMeta, description });
}

/** A size in bytes, written as a number or a quantity (`"10Mi"`); parses to a number of bytes. */
function byteCount(bounds: ByteBounds, defaultBytes: number, description: string) {
  return byteAmount(bounds)
    .transform((amount) => amount.bytes)
    .default(defaultBytes)
    .meta({ ...intOrStringMeta, default: defaultBytes, description });
}

/** A bounded integer. */
function integer(min: number, max: number) {
  // zod reports a string given for an integer as "expected number"; every number in the spec is an integer.
  const error = (issue: { input?: unknown }) =>
    issue.input === undefined || typeof issue.input === 'number'
      ? undefined
      : `must be an integer, not ${describeInput(issue.input)}`;
  return z.int({ error }).min(min).max(max);
}

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const controlCharacters = /[\u0000-\u001f\u007f]/;

/** A string passed to the container verbatim: bounded, and free of NUL, which no argv or environment can hold. */
function verbatimString(maxLength: number) {
  return z
    .string()
    .max(maxLength, { abort: true })
    .refine((value) => !value.includes('\u0000'), { error: 'must not contain a NUL character' });
}

interface PathRules {
  /** The directory paths are relative to and its environment variable, for messages. */
  readonly base: string;
  readonly envVar: string;
  /** A result path must name one file; artifact paths may name directories and use globs. */
  readonly file: boolean;
}

/**
 * A path relative to one of the shared directories. Relative, because only those emptyDirs are visible to the
 * collector; never `..`, so nothing outside them can be reached; normalised, so `./a//b/` and `a/b` are one path.
 */
function relativePath(rules: PathRules) {
  return z
    .string()
    .min(1, { abort: true })
    .max(specLimits.pathLength, { abort: true })
    .transform((value, ctx) => {
      const fail = (message: string): never => {
        ctx.addIssue({ code: 'custom', message, input: value });
        return z.NEVER;
      };
      if (controlCharacters.test(value)) return fail('must not contain control characters');
      if (value.includes('\\')) return fail('must use "/" to separate directories');
      if (value.startsWith('/')) {
        return fail(`${quote(value)} must be relative to ${rules.envVar} (${rules.base}), not absolute`);
      }
      const segments = value.split('/');
      if (segments.includes('..')) return fail(`${quote(value)} must not contain ".."`);
      const normalised = segments.filter((segment) => segment !== '' && segment !== '.').join('/');
      if (rules.file) {
        if (normalised === '' || value.endsWith('/')) return fail(`${quote(value)} must name a file`);
        if (/[*?[\]]/.test(normalised)) return fail(`${quote(value)} must name one file, not a pattern`);
      }
      return normalised === '' ? '.' : normalised;
    });
}

// Checks that should report even when a sibling value is invalid, so one run lists every problem. They see the value
// as parsed so far, in which invalid entries may still be raw input, hence the defensive reading; they only need the
// container itself to have the right type.
const evenWithOtherIssues = { when: (payload: { value: unknown }) => Array.isArray(payload.value) };
const evenWithOtherIssuesInMap = {
  when: (payload: { value: unknown }) =>
    typeof payload.value === 'object' && payload.value !== null && !Array.isArray(payload.value),
};

/**
 * A refinement that flags duplicates in a list at the later occurrence, naming the earlier one.
 * @param keyOf - the identity of an item, or `undefined` for an item that is not valid enough to have one.
 */
function noDuplicates(
  keyOf: (item: unknown) => string | undefined,
  describe: (key: string, first: number) => string,
  field?: string,
) {
  return (list: readonly unknown[], ctx: z.RefinementCtx): void => {
    const first = new Map<string, number>();
    list.forEach((item, index) => {
      const key = keyOf(item);
      if (key === undefined) return;
      const earlier = first.get(key);
      if (earlier === undefined) first.set(key, index);
      else
        ctx.addIssue({
          code: 'custom',
          message: describe(key, earlier),
          path: field ? [index, field] : [index],
        });
    });
  };
}

const asString = (item: unknown): string | undefined => (typeof item === 'string' ? item : undefined);

interface StringMapRules {
  readonly what: string;
  readonly maxEntries: number;
  readonly checkValue?: Check;
  readonly maxTotalLength?: number;
}

/** A map of Kubernetes label-style keys to strings (labels, annotations, label selectors). */
function stringMap(rules: StringMapRules) {
  return z.record(z.string(), z.string()).superRefine((map, ctx) => {
    const entries = Object.entries(map as Record<string, unknown>);
    if (entries.length > rules.maxEntries) {
      ctx.addIssue({ code: 'custom', message: `must have at most ${rules.maxEntries} entries` });
    }
    let total = 0;
    for (const [key, value] of entries) {
      const text = typeof value === 'string' ? value : undefined;
      total += key.length + (text?.length ?? 0);
      const problem =
        checkQualifiedName(key, `${rules.what} key`) ??
        (text === undefined ? undefined : rules.checkValue?.(text));
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [key] });
    }
    if (rules.maxTotalLength !== undefined && total > rules.maxTotalLength) {
      ctx.addIssue({
        code: 'custom',
        message: `must be at most ${rules.maxTotalLength} characters in total`,
      });
    }
  }, evenWithOtherIssuesInMap);
}

// ---------------------------------------------------------------------------------------------------------------
// metadata

/** The name of an evaluation: an RFC 1123 label short enough that `assay-<name>-<attempt>` is a valid Job name. */
export const evaluationNameSchema = ruleString(dns1123LabelPattern, specLimits.nameLength, (value) =>
  checkDns1123Label(value, 'name', specLimits.nameLength),
);

const metadataSchema = z
  .strictObject({
    name: evaluationNameSchema
      .optional()
      .describe(
        `Name of the evaluation (RFC 1123 label, at most ${specLimits.nameLength} characters). Optional for assay run.`,
      ),
    namespace: ruleString(dns1123LabelPattern, 63, (value) => checkDns1123Label(value, 'namespace'))
      .optional()
      .describe('Namespace of the EvaluationJob resource when applied with kubectl; assay run ignores it.'),
    labels: stringMap({ what: 'label', maxEntries: specLimits.labels, checkValue: checkLabelValue })
      .optional()
      .describe('Labels, copied to the Job and its pod (e.g. cost-center).'),
    annotations: stringMap({
      what: 'annotation',
      maxEntries: specLimits.annotations,
      maxTotalLength: specLimits.annotationsLength,
    })
      .optional()
      .describe('Annotations.'),
  })
  .prefault({});

// ---------------------------------------------------------------------------------------------------------------
// spec

const secretKeySelectorSchema = z
  .strictObject({
    name: ruleString(dns1123SubdomainPattern, 253, (value) =>
      checkDns1123Subdomain(value, 'Secret name'),
    ).describe("Name of a Secret in the team's namespace."),
    key: ruleString(
      secretKeyPattern,
      253,
      (value) => `${quote(value)} is not a valid Secret key: use letters, digits, "-", "_" and "."`,
    ).describe('Key inside the Secret.'),
  })
  .describe("A key of a Secret in the team's namespace. The value never appears in the manifest.");

/** An environment variable with a plain value. */
export interface PlainEnvVar {
  name: string;
  value: string;
}

/** An environment variable read from a Secret key when the container starts. */
export interface SecretEnvVar {
  name: string;
  secretRef: SecretKeySelector;
}

/** One parsed environment variable: a plain value or a Secret reference, never both. */
export type EnvVar = PlainEnvVar | SecretEnvVar;

const envVarSchema = z
  .strictObject({
    name: ruleString(
      envVarNamePattern,
      specLimits.envNameLength,
      (value) =>
        `${quote(value)} is not a valid environment variable name: use letters, digits, "_", "-" and ".", not starting with a digit`,
    )
      .refine((value) => !value.startsWith(reservedEnvPrefix), {
        error: (issue) =>
          `${quote(String(issue.input))} is reserved: Assay sets the ${reservedEnvPrefix}* variables itself`,
      })
      .describe('Variable name.'),
    value: verbatimString(specLimits.envValueLength)
      .optional()
      .describe('Plain value. Never put a secret here.'),
    secretRef: secretKeySelectorSchema.optional(),
  })
  .transform((env, ctx): EnvVar => {
    if (env.value !== undefined && env.secretRef !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'set value or secretRef, not both', path: ['secretRef'] });
      return z.NEVER;
    }
    const { name, value, secretRef } = env;
    if (secretRef !== undefined) return { name, secretRef };
    if (value !== undefined) return { name, value };
    ctx.addIssue({ code: 'custom', message: 'set value or secretRef' });
    return z.NEVER;
  })
  .meta({
    description: 'An environment variable: a plain value, or a reference to a Secret key.',
    oneOf: [{ required: ['value'] }, { required: ['secretRef'] }],
  });

const gpuSchema = z
  .strictObject({
    count: integer(1, specLimits.gpuCount).default(specDefaults.gpuCount).describe('Number of GPUs.'),
    type: ruleString(labelValuePattern, 63, (value) => checkLabelValue(value, 'GPU type'))
      .optional()
      .describe('GPU model, e.g. nvidia-a100; any GPU when omitted.'),
  })
  .describe('GPUs for the main container. GPU limits always equal the request, as Kubernetes requires.');

const cpuBoundsText = `${formatMillicores(specLimits.minCpuMillicores)} to ${formatMillicores(specLimits.maxCpuMillicores)}`;
const memoryBounds = { min: specLimits.minMemoryBytes, max: specLimits.maxMemoryBytes };
const storageBounds = { min: specLimits.minEphemeralStorageBytes, max: specLimits.maxEphemeralStorageBytes };

function resourceAmounts(role: 'request' | 'limit') {
  return {
    cpu: cpuQuantity(`CPU ${role} (${cpuBoundsText}), e.g. 500m or 2.`).optional(),
    memory: byteQuantity(memoryBounds, `Memory ${role} (16Mi to 1Ti), e.g. 4Gi.`).optional(),
    ephemeralStorage: byteQuantity(
      storageBounds,
      `Ephemeral storage ${role} (16Mi to 1Ti), which also holds the result and artifact volumes.`,
    ).optional(),
  };
}

/** CPU, memory and ephemeral storage in canonical quantities (`"500m"`, `"4Gi"`). */
export interface ResourceAmounts {
  cpu: string;
  memory: string;
  ephemeralStorage: string;
}

type ResourceName = keyof ResourceAmounts;
const resourceNames: readonly ResourceName[] = ['cpu', 'memory', 'ephemeralStorage'];

function magnitude(resource: ResourceName, canonical: string): number {
  const parsed = resource === 'cpu' ? parseCpu(canonical) : parseBytes(canonical);
  if (!parsed.ok) throw new Error(`internal: canonical quantity ${canonical} does not parse`);
  return 'millicores' in parsed.value ? parsed.value.millicores : parsed.value.bytes;
}

/**
 * Resources: requests directly on `resources`, limits under `resources.limits`. As in Kubernetes, a missing limit is
 * the request and a missing request is the limit; when neither is given the default applies.
 */
const resourcesSchema = z
  .strictObject({
    ...resourceAmounts('request'),
    gpu: gpuSchema.optional(),
    limits: z
      .strictObject(resourceAmounts('limit'))
      .optional()
      .describe('Limits; each defaults to its request and must not be below it.'),
  })
  .transform((resources, ctx) => {
    const given = resources.limits ?? {};
    const requests: ResourceAmounts = {
      cpu: resources.cpu ?? given.cpu ?? specDefaults.cpu,
      memory: resources.memory ?? given.memory ?? specDefaults.memory,
      ephemeralStorage: resources.ephemeralStorage ?? given.ephemeralStorage ?? specDefaults.ephemeralStorage,
    };
    const limits: ResourceAmounts = {
      cpu: given.cpu ?? requests.cpu,
      memory: given.memory ?? requests.memory,
      ephemeralStorage: given.ephemeralStorage ?? requests.ephemeralStorage,
    };
    for (const resource of resourceNames) {
      if (magnitude(resource, limits[resource]) < magnitude(resource, requests[resource])) {
        const implied = resources[resource] === undefined ? ' (the default)' : '';
        ctx.addIssue({
          code: 'custom',
          message: `limit ${limits[resource]} is below the request ${requests[resource]}${implied}`,
          path: ['limits', resource],
        });
      }
    }
    return {
      ...requests,
      ...(resources.gpu === undefined ? {} : { gpu: resources.gpu }),
      limits,
    };
  })
  .prefault({})
  .describe(
    'Compute resources of the main container. Requests are set directly (cpu, memory, ephemeralStorage, gpu); ' +
      'limits default to the requests.',
  );

const retriesSchema = z
  .strictObject({
    maxAttempts: integer(1, specLimits.maxAttempts)
      .default(specDefaults.maxAttempts)
      .describe(
        'Attempts in all, the first included. Infrastructure failures are always retried up to this.',
      ),
    backoffSeconds: integer(0, specLimits.maxBackoffSeconds)
      .default(specDefaults.backoffSeconds)
      .describe('Delay before the next attempt.'),
    transientExitCodes: z
      .array(integer(1, 255))
      .max(specLimits.transientExitCodes)
      .superRefine(
        noDuplicates(
          (code) => (typeof code === 'number' ? String(code) : undefined),
          (code, first) => `exit code ${code} is already listed at transientExitCodes[${first}]`,
        ),
        evenWithOtherIssues,
      )
      .default([])
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe('Exit codes of the evaluation itself that mean "try again" rather than "failed".'),
  })
  .prefault({})
  .describe('Retry policy.');

const resultSchema = z
  .strictObject({
    path: relativePath({ base: assayResultDir, envVar: '$ASSAY_RESULT_DIR', file: true })
      .default(specDefaults.resultPath)
      .describe(
        `File the evaluation writes its JSON result to, relative to ${assayResultDir} ($ASSAY_RESULT_PATH).`,
      ),
    maxBytes: byteCount(
      { min: 1, max: specLimits.resultBytes },
      specDefaults.resultMaxBytes,
      'Largest result file accepted, in bytes or as a quantity (at most 100Mi).',
    ),
  })
  .describe(
    'A result file. Without it the result is read from the termination message (/dev/termination-log, 4 KiB).',
  );

/** A regular expression given as a string, checked to compile. */
const patternList = z
  .array(
    z
      .string()
      .min(1)
      .max(1024)
      .superRefine((source, ctx) => {
        try {
          new RegExp(source);
        } catch (err) {
          ctx.addIssue({
            code: 'custom',
            message: `not a valid regular expression: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
      }),
  )
  .max(16)
  .optional()
  .meta({ 'x-kubernetes-list-type': 'atomic' });

const logsSchema = z
  .strictObject({
    multiline: z
      .strictObject({
        continuation: patternList.describe(
          'Lines matching one of these regular expressions join the event before them.',
        ),
        start: patternList.describe(
          'When given, only lines matching one of these start an event; other lines join the event before them.',
        ),
      })
      .optional()
      .describe(
        'Extra rules for grouping lines into events.ndjson, besides the built-in ones (a Python traceback is one ' +
          'event; indented lines join the event before them).',
      ),
  })
  .describe('How the logs are captured.');

const artifactsSchema = z
  .strictObject({
    paths: z
      .array(relativePath({ base: assayArtifactsDir, envVar: '$ASSAY_ARTIFACTS_DIR', file: false }))
      .min(1)
      .max(specLimits.artifactPaths)
      .superRefine(
        noDuplicates(asString, (path, first) => `${quote(path)} is already listed at paths[${first}]`),
        evenWithOtherIssues,
      )
      .default([...specDefaults.artifactPaths])
      .describe(
        `Files, directories (taken whole) or glob patterns (*, ?, **), relative to ${assayArtifactsDir}; "." is all of it.`,
      ),
    maxBytes: byteCount(
      { min: 1, max: specLimits.artifactBytes },
      specDefaults.artifactMaxBytes,
      'Largest total size of the artifacts, in bytes or as a quantity (at most 100Gi).',
    ),
    maxFiles: integer(1, specLimits.artifactFiles)
      .default(specDefaults.artifactMaxFiles)
      .describe('Largest number of artifact files.'),
  })
  .describe(
    `Artifacts the evaluation writes under ${assayArtifactsDir} ($ASSAY_ARTIFACTS_DIR), kept in object storage.`,
  );

// A small URL grammar instead of `new URL`: spec validation also runs inside workflow code.
const webhookUrl = /^(https?):\/\/([^/?#\s]+)([/?#][^\s]*)?$/;
const webhookHost =
  /^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::([0-9]{1,5}))?$/;

function checkWebhookUrl(value: string): string | undefined {
  const match = webhookUrl.exec(value);
  if (!match) return `${quote(value)} is not an http(s) URL`;
  const authority = match[2] ?? '';
  // Credentials in a URL would be a secret written into the manifest; signing uses secretRef instead.
  if (authority.includes('@')) return 'must not contain credentials; sign requests with secretRef instead';
  const host = webhookHost.exec(authority);
  if (!host) return `${quote(value)} does not have a valid host`;
  const port = host[1] === undefined ? undefined : Number(host[1]);
  if (port !== undefined && (port < 1 || port > 65535)) return `${quote(value)} has an invalid port`;
  return undefined;
}

const webhookSchema = z
  .strictObject({
    url: z
      .string()
      .min(1, { abort: true })
      .max(specLimits.webhookUrlLength, { abort: true })
      .superRefine((value, ctx) => {
        const problem = checkWebhookUrl(value);
        if (problem) ctx.addIssue({ code: 'custom', message: problem });
      })
      .describe('http or https URL that receives a JSON POST per event.'),
    events: z
      .array(z.enum(webhookEvents))
      .min(1)
      .max(webhookEvents.length)
      .superRefine(
        noDuplicates(asString, (event, first) => `${quote(event)} is already listed at events[${first}]`),
        evenWithOtherIssues,
      )
      .default([...specDefaults.webhookEvents])
      .meta({ 'x-kubernetes-list-type': 'set' })
      .describe(`Events to send: ${webhookEvents.join(', ')}. Default: every outcome.`),
    secretRef: secretKeySelectorSchema
      .optional()
      .describe('Secret key whose value signs each request (HMAC-SHA256). Unsigned when omitted.'),
  })
  .describe('A webhook notified of the evaluation’s progress and outcome.');

const clusterSchema = z
  .strictObject({
    name: ruleString(dns1123LabelPattern, 63, (value) => checkDns1123Label(value, 'cluster name'))
      .optional()
      .describe('Run on this cluster of the registry.'),
    selector: stringMap({
      what: 'selector',
      maxEntries: specLimits.clusterSelectorLabels,
      checkValue: checkLabelValue,
    })
      .optional()
      .describe('Run on a cluster whose labels include all of these.'),
    gpuType: ruleString(labelValuePattern, 63, (value) => checkLabelValue(value, 'GPU type'))
      .optional()
      .describe('Run on a cluster offering this GPU type; defaults to resources.gpu.type.'),
  })
  .superRefine((cluster, ctx) => {
    if (cluster.name !== undefined && cluster.selector !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'set name or selector, not both', path: ['selector'] });
    }
  })
  .prefault({})
  .describe('Where to run. Without name or selector, Assay picks the best cluster.');

const specObjectSchema = z.strictObject({
  team: ruleString(dns1123LabelPattern, specLimits.teamLength, (value) =>
    checkDns1123Label(value, 'team name', specLimits.teamLength),
  ).describe(`Team that owns and pays for the evaluation; its namespace is assay-<team>.`),
  user: ruleString(dns1123LabelPattern, specLimits.userLength, (value) =>
    value.includes('@')
      ? `${quote(value)} is not a valid user name: use a login name such as "alice", not an email address`
      : checkDns1123Label(value, 'user name', specLimits.userLength),
  ).describe('User who submits the evaluation: a login name such as alice.'),
  image: z
    .string()
    .min(1, { abort: true })
    .max(specLimits.imageLength, { abort: true })
    .regex(new RegExp(imageReferencePattern), {
      error: (issue) => checkImageReference(String(issue.input)) ?? 'is not a valid image reference',
    })
    .describe('Container image: [registry/]repository[:tag][@digest].'),
  command: z
    .array(verbatimString(specLimits.argumentLength).min(1))
    .max(specLimits.commandItems)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'atomic' })
    .describe("Entrypoint; the image's ENTRYPOINT when omitted."),
  args: z
    .array(verbatimString(specLimits.argumentLength))
    .max(specLimits.argsItems)
    .optional()
    .meta({ 'x-kubernetes-list-type': 'atomic' })
    .describe("Arguments; the image's CMD when omitted."),
  env: z
    .array(envVarSchema)
    .max(specLimits.envVars)
    .superRefine(
      noDuplicates(
        (variable) =>
          typeof variable === 'object' &&
          variable !== null &&
          'name' in variable &&
          typeof variable.name === 'string'
            ? variable.name
            : undefined,
        (name, first) => `${quote(name)} is already set at env[${first}]`,
        'name',
      ),
      evenWithOtherIssues,
    )
    .default([])
    .meta({ 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['name'] })
    .describe('Environment variables of the main container.'),
  workingDir: verbatimString(specLimits.workingDirLength)
    .min(1)
    .refine((value) => value.startsWith('/'), { error: 'must be an absolute path' })
    .optional()
    .describe("Working directory; the image's WORKDIR when omitted."),
  resources: resourcesSchema,
  timeoutSeconds: integer(specLimits.minTimeoutSeconds, specLimits.maxTimeoutSeconds)
    .default(specDefaults.timeoutSeconds)
    .describe('Deadline of each attempt (at most 7 days); past it the outcome is TimedOut.'),
  priority: z.enum(priorities).default(specDefaults.priority).describe('low, normal or high.'),
  retries: retriesSchema,
  result: resultSchema.optional(),
  artifacts: artifactsSchema.optional(),
  logs: logsSchema.optional(),
  webhooks: z
    .array(webhookSchema)
    .max(specLimits.webhooks)
    .default([])
    .meta({ 'x-kubernetes-list-type': 'atomic' })
    .describe('Webhooks notified of progress and outcome.'),
  cluster: clusterSchema,
  retentionDays: integer(1, specLimits.maxRetentionDays)
    .default(specDefaults.retentionDays)
    .describe('Days to keep logs, result, artifacts and the record.'),
});

/** The `spec` of an EvaluationJob, with the checks that span several fields. */
export const evaluationSpecSchema = specObjectSchema
  .transform((spec, ctx) => {
    const gpuType = spec.resources.gpu?.type;
    if (gpuType !== undefined && spec.cluster.gpuType !== undefined && gpuType !== spec.cluster.gpuType) {
      ctx.addIssue({
        code: 'custom',
        message: `${quote(spec.cluster.gpuType)} conflicts with resources.gpu.type ${quote(gpuType)}`,
        path: ['cluster', 'gpuType'],
      });
    }

    // The result and artifact volumes are emptyDirs, which count against the pod's ephemeral storage: if they may
    // outgrow the limit, the kubelet evicts the pod before the collector can read them.
    const storageLimit = magnitude('ephemeralStorage', spec.resources.limits.ephemeralStorage);
    const collected = (spec.result?.maxBytes ?? 0) + (spec.artifacts?.maxBytes ?? 0);
    if (collected > storageLimit) {
      ctx.addIssue({
        code: 'custom',
        message:
          `result and artifacts may take ${formatBytes(collected, true)}, more than ` +
          `resources.limits.ephemeralStorage ${spec.resources.limits.ephemeralStorage}, which also holds them`,
        path: spec.artifacts ? ['artifacts', 'maxBytes'] : ['result', 'maxBytes'],
      });
    }

    const parts = [...(spec.command ?? []), ...(spec.args ?? [])];
    for (const variable of spec.env) parts.push(variable.name, 'value' in variable ? variable.value : '');
    const invocation = parts.reduce((total, part) => total + part.length, 0);
    if (invocation > specLimits.invocationLength) {
      ctx.addIssue({
        code: 'custom',
        message: `command, args and env together exceed ${specLimits.invocationLength} characters; pass large inputs as files`,
        path: [],
      });
    }

    return {
      ...spec,
      cluster: {
        ...spec.cluster,
        ...(gpuType !== undefined && { gpuType: spec.cluster.gpuType ?? gpuType }),
      },
    };
  })
  .describe('What to run, with which resources, and what to keep.');

/** The whole manifest. Unknown fields anywhere are errors: a misspelt field must not be silently ignored. */
export const evaluationJobSchema = z
  .strictObject({
    apiVersion: z.literal(evaluationJobApiVersion).describe('assay.dev/v1'),
    kind: z.literal(evaluationJobKind).describe('EvaluationJob'),
    metadata: metadataSchema,
    spec: evaluationSpecSchema,
  })
  .describe('An evaluation run as a Kubernetes Job, orchestrated end to end by a Temporal workflow.');

/** A manifest as written: optional fields may be missing, quantities may be strings or integers. */
export type EvaluationJobInput = z.input<typeof evaluationJobSchema>;
/** A parsed manifest: defaults filled in, quantities and paths normalised. */
export type EvaluationJob = z.output<typeof evaluationJobSchema>;
/** The `spec` of a manifest as written. */
export type EvaluationSpecInput = z.input<typeof evaluationSpecSchema>;
/** The `spec` of a parsed manifest. */
export type EvaluationSpec = z.output<typeof evaluationSpecSchema>;
/** Parsed `metadata`. */
export type EvaluationMetadata = EvaluationJob['metadata'];
/** Parsed resources: canonical request quantities, `gpu` when requested, and `limits` always filled in. */
export type Resources = EvaluationSpec['resources'];
/** A reference to a key of a Secret in the team's namespace. */
export type SecretKeySelector = z.output<typeof secretKeySelectorSchema>;
/** Parsed retry policy. */
export type RetryPolicy = EvaluationSpec['retries'];
/** Parsed result declaration. */
export type ResultSpec = NonNullable<EvaluationSpec['result']>;
/** Parsed artifacts declaration. */
export type ArtifactsSpec = NonNullable<EvaluationSpec['artifacts']>;
/** One parsed webhook. */
export type Webhook = EvaluationSpec['webhooks'][number];
/** Parsed cluster placement. */
export type ClusterPlacement = EvaluationSpec['cluster'];

/** The outcome of parsing: the normalised value, or every problem found. */
export type ParseResult<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly issues: readonly SpecIssue[] };

function parseWith<S extends z.ZodType>(schema: S, input: unknown): ParseResult<z.output<S>> {
  const result = schema.safeParse(input, { error: specErrorMap });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, issues: toSpecIssues(result.error, schema) };
}

/**
 * Validates and normalises a whole manifest (already read from YAML or JSON). Never throws for bad input: every
 * problem is returned with its path (`spec.resources.memory`, `spec.env[2].name`).
 */
export function parseEvaluationJob(input: unknown): ParseResult<EvaluationJob> {
  return parseWith(evaluationJobSchema, input);
}

/**
 * Validates and normalises a bare `spec` (for callers that build specs in code). Issue paths are relative to the
 * spec: `resources.memory`.
 */
export function parseEvaluationSpec(input: unknown): ParseResult<EvaluationSpec> {
  return parseWith(evaluationSpecSchema, input);
}

/** Thrown by {@link evaluationJobOrThrow} and {@link evaluationSpecOrThrow}; carries every issue. */
export class InvalidEvaluationSpecError extends Error {
  /** Stable code to match on across process and Temporal boundaries. */
  readonly code = 'ASSAY_INVALID_SPEC';
  readonly issues: readonly SpecIssue[];

  constructor(issues: readonly SpecIssue[]) {
    const lines = issues.map((issue) =>
      issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`,
    );
    super(`invalid evaluation spec:\n  ${lines.join('\n  ')}`);
    this.name = 'InvalidEvaluationSpecError';
    this.issues = issues;
  }
}

/**
 * Like {@link parseEvaluationJob}, for callers that treat invalid input as an error.
 * @throws {@link InvalidEvaluationSpecError} listing every issue when the manifest is invalid.
 */
export function evaluationJobOrThrow(input: unknown): EvaluationJob {
  const result = parseEvaluationJob(input);
  if (!result.ok) throw new InvalidEvaluationSpecError(result.issues);
  return result.value;
}

/**
 * Like {@link parseEvaluationSpec}, for callers that treat invalid input as an error.
 * @throws {@link InvalidEvaluationSpecError} listing every issue when the spec is invalid.
 */
export function evaluationSpecOrThrow(input: unknown): EvaluationSpec {
  const result = parseEvaluationSpec(input);
  if (!result.ok) throw new InvalidEvaluationSpecError(result.issues);
  return result.value;
}
