/**
 * A cluster's isolation policy in the worker config (`clusters[].security`, docs/security.md): which sandboxed
 * runtimes it offers, its seccomp and AppArmor defaults, which images it runs and which destinations evaluations may
 * reach. zod-validated; every error names its field.
 */
import { z } from 'zod';
import { cidrSchema, defaultRuntime, egressRuleSchema, seccompLevels } from './security-schema.js';

/** Where the local stack (and the Helm chart) install Assay's strict seccomp profile, under the kubelet's seccomp directory. */
export const defaultStrictProfile = 'assay/strict.json';

const runtimeName = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label (lowercase letters, digits, "-")')
  .max(63)
  .refine((name) => name !== defaultRuntime, `"${defaultRuntime}" is the node's own runtime; it needs no entry`);

/** AppArmor profiles a cluster may apply: `off` where its nodes have no AppArmor (the kubelet would refuse the pod). */
export const appArmorSchema = z
  .union([z.literal('off'), z.literal('runtimeDefault'), z.strictObject({ localhost: z.string().min(1).max(253) })])
  .default('off')
  .describe("off (nodes without AppArmor), runtimeDefault, or {localhost: profile} loaded on every node");
export type AppArmorSetting = z.output<typeof appArmorSchema>;

export const clusterSecuritySchema = z
  .strictObject({
    /** Sandboxed runtimes the cluster offers, by name: the RuntimeClass each maps to (e.g. `gvisor: gvisor`). */
    runtimeClasses: z.record(runtimeName, z.string().min(1).max(253)).default({}),
    /** The runtime of evaluations that name none: `default` or a key of `runtimeClasses`. */
    defaultRuntime: z.string().min(1).default(defaultRuntime),
    seccomp: z
      .strictObject({
        /** The level of evaluations that name none. */
        default: z.enum(seccompLevels).default('runtimeDefault'),
        /** Path of the strict profile under the kubelet's seccomp directory (`<root-dir>/seccomp`). */
        strictProfile: z.string().min(1).default(defaultStrictProfile),
      })
      .prefault({}),
    appArmor: appArmorSchema,
    images: z
      .strictObject({
        /** Image references must start with one of these (e.g. `registry.example.com/evals/`); null: any image. */
        allowedPrefixes: z.array(z.string().min(1)).min(1).nullable().default(null),
        /** Images must be pinned by digest (`@sha256:…`). */
        requireDigest: z.boolean().default(false),
      })
      .prefault({}),
    network: z
      .strictObject({
        /** Destinations every evaluation on the cluster may reach, whatever its spec says (e.g. a model gateway). */
        operatorEgress: z.array(egressRuleSchema).default([]),
        /** A user's egress block must lie inside one of these; link-local blocks are always excepted. */
        userEgressWithin: z.array(cidrSchema).default(['0.0.0.0/0', '::/0']),
        /** Where DNS is served, allowed when an evaluation may reach anything; null: no DNS rule. */
        dns: z
          .strictObject({
            namespace: z.string().min(1).default('kube-system'),
            podLabels: z.record(z.string(), z.string()).default({ 'k8s-app': 'kube-dns' }),
          })
          .nullable()
          .prefault({}),
      })
      .prefault({}),
  })
  .superRefine((security, ctx) => {
    if (security.defaultRuntime !== defaultRuntime && !(security.defaultRuntime in security.runtimeClasses)) {
      ctx.addIssue({
        code: 'custom',
        message: `must be "${defaultRuntime}" or one of runtimeClasses (${Object.keys(security.runtimeClasses).join(', ') || 'none declared'})`,
        path: ['defaultRuntime'],
      });
    }
  })
  .prefault({});
export type ClusterSecurity = z.output<typeof clusterSecuritySchema>;
