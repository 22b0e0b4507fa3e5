/**
 * The `EvaluationJob` manifest (`apiVersion: assay.dev/v1`): the one contract for an evaluation, accepted by
 * `assay run -f`, by `AssayClient.start` and, through the CRD, by `kubectl apply -f`.
 *
 * Parsing (`./evaluation-job.ts`) does three things at once: it rejects anything Kubernetes or Assay would refuse later (with the field path
 * of each problem), it fills in defaults, and it normalises (quantities to canonical spellings, paths without `./`,
 * limits filled from requests), so two manifests that mean the same thing parse to the same value.
 *
 * Every string, list, map and number has an upper bound: a manifest travels through Temporal history (2 MiB per
 * payload) and is stored as a Kubernetes object (1.5 MiB), and a runaway value should fail here, not there.
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { formatBytes } from './quantity.js';
import {
  checkDns1123Label,
  checkDns1123Subdomain,
  checkImageReference,
  checkLabelValue,
  dns1123LabelPattern,
  dns1123SubdomainPattern,
  envVarNamePattern,
  imageReferencePattern,
  labelValuePattern,
  quote,
  secretKeyPattern,
} from './kubernetes-rules.js';
import {
  assayArtifactsDir,
  assayResultDir,
  evaluationJobApiVersion,
  evaluationJobKind,
  priorities,
  reservedEnvPrefix,
  specDefaults,
  specLimits,
  webhookEvents,
} from './spec-constants.js';
import {
  asString,
  evenWithOtherIssues,
  integer,
  noDuplicates,
  relativePath,
  ruleString,
  stringMap,
  verbatimString,
} from './zod-helpers.js';
import { byteCount } from './quantity-fields.js';
import { magnitude, resourcesSchema } from './resources-schema.js';
import { checkWebhookUrl } from './webhook-url.js';
import { networkSchema, securitySchema } from './security-schema.js';

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
      .describe(
        'Secret key holding the Standard Webhooks signing secret (whsec_ + base64; several separated by spaces while rotating, each signs). Unsigned when omitted.',
      ),
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
  network: networkSchema,
  security: securitySchema,
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
