/**
 * The `resources` of an EvaluationJob: requests set directly, limits under `limits`, GPUs. As in Kubernetes, a missing
 * limit is the request and a missing request is the limit; quantities are normalised to canonical spellings.
 */
import { z } from 'zod';
import { parseBytes, parseCpu, formatMillicores } from './quantity.js';
import { checkLabelValue, labelValuePattern } from './kubernetes-rules.js';
import { specDefaults, specLimits } from './spec-constants.js';
import { integer, ruleString } from './zod-helpers.js';
import { byteQuantity, cpuQuantity } from './quantity-fields.js';

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

/** The size of a canonical quantity: millicores for CPU, bytes for memory and storage. */
export function magnitude(resource: ResourceName, canonical: string): number {
  const parsed = resource === 'cpu' ? parseCpu(canonical) : parseBytes(canonical);
  if (!parsed.ok) throw new Error(`internal: canonical quantity ${canonical} does not parse`);
  return 'millicores' in parsed.value ? parsed.value.millicores : parsed.value.bytes;
}

/**
 * Resources: requests directly on `resources`, limits under `resources.limits`. As in Kubernetes, a missing limit is
 * the request and a missing request is the limit; when neither is given the default applies.
 */
export const resourcesSchema = z
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
