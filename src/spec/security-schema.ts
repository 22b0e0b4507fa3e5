/**
 * What an evaluation asks of its isolation (docs/security.md): `spec.network` (none, or an egress allow-list) and
 * `spec.security` (seccomp level and sandboxed runtime). Omitted levels take the cluster's defaults; the cluster's
 * policy decides whether a request is allowed (`src/security/resolve.ts`).
 */
import { z } from 'zod';
import { checkCidr, cidrContains, linkLocalBlocks, parseCidr } from './cidr.js';
import { checkDns1123Label, dns1123LabelPattern } from './kubernetes-rules.js';
import { integer, ruleString } from './zod-helpers.js';

/** Seccomp levels: the runtime's default profile, or Assay's stricter Localhost profile. */
export const seccompLevels = ['runtimeDefault', 'strict'] as const;
export type SeccompLevel = (typeof seccompLevels)[number];

/** The runtime every cluster has: the node's default container runtime handler. */
export const defaultRuntime = 'default';

export const networkProtocols = ['TCP', 'UDP'] as const;

/** A CIDR block as a NetworkPolicy ipBlock takes it. */
export const cidrSchema = z
  .string()
  .max(64)
  .refine((value) => checkCidr(value) === null, { error: (issue) => checkCidr(String(issue.input)) ?? 'is not a CIDR block' });

/** One egress allowance: a block, the ports (none: every port) and the protocol. */
export const egressRuleSchema = z.strictObject({
  cidr: cidrSchema.describe('Destination block, e.g. 192.0.2.10/32.'),
  ports: z
    .array(integer(1, 65535))
    .max(32)
    .default([])
    .meta({ 'x-kubernetes-list-type': 'atomic' })
    .describe('Destination ports; empty: every port.'),
  protocol: z.enum(networkProtocols).default('TCP').describe('TCP or UDP.'),
});
export type EgressRule = z.output<typeof egressRuleSchema>;

/** `spec.network`: `none` (the default: no traffic in or out) or an egress allow-list. */
export const networkSchema = z
  .union([
    z.literal('none'),
    z.strictObject({
      egress: z
        .array(
          egressRuleSchema.superRefine((rule, ctx) => {
            const block = parseCidr(rule.cidr);
            if (block === null) return;
            // A block inside link-local would reach a cloud metadata service: never allowed to a user.
            if (linkLocalBlocks.some((ll) => cidrContains(parseCidr(ll)!, block))) {
              ctx.addIssue({
                code: 'custom',
                message: `${rule.cidr} is link-local (cloud metadata services live there); evaluations may not reach it`,
                path: ['cidr'],
              });
            }
          }),
        )
        .min(1, 'must allow at least one destination; use network: none for no traffic')
        .max(32)
        .meta({ 'x-kubernetes-list-type': 'atomic' })
        .describe('Destinations the evaluation may reach; everything else is refused.'),
    }),
  ])
  .default('none')
  // A word or a map: no structural CRD type holds both, so the CRD keeps the value and the zod schema checks it.
  .meta({ 'x-kubernetes-preserve-unknown-fields': true })
  .describe('none (no traffic in or out, the default) or {egress: [{cidr, ports, protocol}]}.');
export type NetworkSpec = z.output<typeof networkSchema>;

/** `spec.security`: each field omitted takes the cluster's default. */
export const securitySchema = z
  .strictObject({
    seccomp: z.enum(seccompLevels).optional().describe("runtimeDefault or strict; the cluster's default when omitted."),
    runtime: ruleString(dns1123LabelPattern, 63, (value) => checkDns1123Label(value, 'runtime name', 63))
      .optional()
      .describe(`Container runtime: ${defaultRuntime}, gvisor, or another the cluster offers; the cluster's default when omitted.`),
  })
  .prefault({})
  .describe('Seccomp level and sandboxed runtime.');
export type SecuritySpec = z.output<typeof securitySchema>;
