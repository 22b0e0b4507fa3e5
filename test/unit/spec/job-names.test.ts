/**
 * Every Kubernetes name Assay derives from an evaluation must be valid for the longest input the front door lets
 * through, whichever way the id was chosen: `--id` (the client's idempotency key), `metadata.name`, or a generated
 * ULID. The bounds are found by asking the real parser and client, not by re-computing them from the constants.
 */
import { describe, expect, it } from '@jest/globals';
import type { Client } from '@temporalio/client';
import { AssayClient, InvalidEvaluationIdError } from '../../../src/client/assay-client.js';
import { parseEvaluationJob } from '../../../src/spec/evaluation-job.js';
import { labelKeys } from '../../../src/spec/kube-labels.js';
import { attemptJobName } from '../../../src/spec/names.js';
import { teamNamespace, workerConfigSchema } from '../../../src/spec/worker-config.js';

/** Thrown by the fake Temporal client once the client has decided on the id: nothing more is needed. */
class Captured extends Error {
  constructor(readonly workflowId: string) {
    super('captured');
  }
}

/** An AssayClient over a fake Temporal client that captures the workflow id `start` chooses and stops there. */
const client = new AssayClient({
  options: { namespace: 'default' },
  workflow: {
    start: (_type: string, options: { workflowId: string }) =>
      Promise.reject(new Captured(options.workflowId)),
  },
} as unknown as Client);

function manifest(metadata: Record<string, unknown>, spec: Record<string, unknown> = {}): unknown {
  return {
    apiVersion: 'assay.dev/v1',
    kind: 'EvaluationJob',
    metadata,
    spec: { team: 'ml', user: 'ada', image: 'localhost/assay/busybox:1', ...spec },
  };
}

/** The evaluation id the real client derives for `manifest` and `idempotencyKey`; undefined when it refuses them. */
async function evaluationIdFor(input: unknown, idempotencyKey?: string): Promise<string | undefined> {
  try {
    await client.start(input, idempotencyKey === undefined ? {} : { idempotencyKey });
  } catch (err) {
    if (err instanceof Captured) return err.workflowId.replace(/^eval-/, '');
    if (err instanceof InvalidEvaluationIdError || err instanceof Error) return undefined;
  }
  throw new Error('the fake Temporal client was not reached');
}

/** The largest n in 1…limit for which `accepts(n)` holds, checking that n + 1 is refused (there is a bound). */
async function longestAccepted(accepts: (n: number) => Promise<boolean>, limit = 300): Promise<number> {
  let longest = 0;
  for (let n = 1; n <= limit; n++) {
    if (await accepts(n)) longest = n;
    else break;
  }
  if (longest === 0 || longest === limit)
    throw new Error(`no bound found below ${limit} (longest ${longest})`);
  return longest;
}

/** The largest `retries.maxAttempts` the parser accepts: the highest attempt number a Job can carry. */
async function highestAttempt(): Promise<number> {
  return longestAccepted((n) =>
    Promise.resolve(parseEvaluationJob(manifest({}, { retries: { maxAttempts: n } })).ok),
  );
}

/**
 * Kubernetes' own rules, written out here rather than taken from `src/spec/kubernetes-rules.ts`, so a fault there
 * cannot hide one in the names: an RFC 1123 label and a label value, each at most 63 characters.
 */
function dns1123LabelProblem(value: string): string | undefined {
  if (value.length > 63) return `${value} is ${value.length} characters (> 63)`;
  return /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(value) ? undefined : `${value} is not an RFC 1123 label`;
}
function labelValueProblem(value: string): string | undefined {
  if (value.length > 63) return `label value ${value} is ${value.length} characters (> 63)`;
  return /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(value)
    ? undefined
    : `${value} is not a label value`;
}

/** Problems with the Job name and labels of every attempt of `evaluationId`. */
function nameProblems(evaluationId: string, attempts: number): string[] {
  const problems: string[] = [];
  for (let attempt = 1; attempt <= attempts; attempt++) {
    const job = attemptJobName(evaluationId, attempt);
    // A Job name is also the value of its pods' `batch.kubernetes.io/job-name` label: a DNS-1123 label, ≤ 63.
    const issue = dns1123LabelProblem(job) ?? labelValueProblem(job);
    if (issue !== undefined) problems.push(`Job name: ${issue}`);
  }
  const label = labelValueProblem(evaluationId);
  if (label !== undefined) problems.push(`${labelKeys.evaluationId}: ${label}`);
  return problems;
}

describe('names derived from the longest evaluation id', () => {
  it('--id: the longest key the client accepts still gives valid Job names for every attempt', async () => {
    const longest = await longestAccepted(
      async (n) => (await evaluationIdFor(manifest({}), 'k'.repeat(n))) !== undefined,
    );
    const id = 'k'.repeat(longest);
    expect(await evaluationIdFor(manifest({}), id)).toBe(id);
    expect(nameProblems(id, await highestAttempt())).toEqual([]);
  });

  it('metadata.name: the longest name the parser accepts still gives valid Job names for every attempt', async () => {
    const longest = await longestAccepted(
      async (n) => (await evaluationIdFor(manifest({ name: 'n'.repeat(n) }))) !== undefined,
    );
    const id = 'n'.repeat(longest);
    expect(await evaluationIdFor(manifest({ name: id }))).toBe(id);
    expect(nameProblems(id, await highestAttempt())).toEqual([]);
  });

  it('generated: a ULID id gives valid Job names for every attempt', async () => {
    const id = await evaluationIdFor(manifest({}));
    expect(id).toMatch(/^[0-9a-z]{26}$/);
    expect(nameProblems(id!, await highestAttempt())).toEqual([]);
  });

  it('team: the longest team the parser accepts still gives a valid namespace name', async () => {
    const longest = await longestAccepted((n) =>
      Promise.resolve(parseEvaluationJob(manifest({}, { team: 't'.repeat(n) })).ok),
    );
    const cluster = workerConfigSchema.parse({ clusters: [{ name: 'local' }] }).clusters[0]!;
    const namespace = teamNamespace(cluster, 't'.repeat(longest));
    expect(dns1123LabelProblem(namespace)).toBeUndefined();
  });
});
